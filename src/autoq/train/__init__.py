"""Training: the SGD step loop shared by every trainer, and quantization-aware finetuning of a policy.

Names load on first use, so that importing the package stays light. The policy finetune is
``autoq.train.finetune.finetune`` (also ``autoq.finetune``): the module shares its name.
"""

from __future__ import annotations

from autoq.utils.lazy import lazy_getattr

_LAZY = {
    "train_steps": "autoq.train.sgd",
    "set_train_mode": "autoq.train.sgd",
    "mean_cross_entropy": "autoq.train.sgd",
    "FinetuneResult": "autoq.train.finetune",
}
__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
