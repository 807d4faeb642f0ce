"""The search: environment, budgets, the episode loop, finetuning.

Names load on first use, so that importing the package stays light (the settings live in ``autoq.config``).
"""

from __future__ import annotations

from autoq.utils.lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY)
