"""The search: environment, budgets, the episode loop, finetuning.

Names load on first use, so that importing the settings (``autoq.search.config``) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FinetuneConfig": "autoq.search.config", "RunConfig": "autoq.search.config", "SearchConfig": "autoq.search.config",
    "FinetuneResult": "autoq.search.finetuning", "finetune": "autoq.search.finetuning",
    "SearchResult": "autoq.search.run", "search": "autoq.search.run",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autoq.search' has no attribute {name!r}")
