"""The search: environment, budgets, the episode loop, finetuning.

Names load on first use, so that importing the package stays light (the settings live in ``autoq.config``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FinetuneConfig": "autoq.config",
    "RunConfig": "autoq.config",
    "SearchConfig": "autoq.config",
    "FinetuneResult": "autoq.train.finetune",
    "finetune": "autoq.train.finetune",
    "SearchResult": "autoq.search.run",
    "search": "autoq.search.run",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autoq.search' has no attribute {name!r}")
