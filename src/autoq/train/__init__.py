"""Training: the SGD step loop shared by every trainer, and quantization-aware finetuning of a policy.

Names load on first use, so that importing the package stays light. The policy finetune is
``autoq.train.finetune.finetune`` (also ``autoq.finetune``): the module shares its name.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "train_steps": "autoq.train.sgd",
    "set_train_mode": "autoq.train.sgd",
    "mean_cross_entropy": "autoq.train.sgd",
    "FinetuneResult": "autoq.train.finetune",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autoq.train' has no attribute {name!r}")
