"""Meeting a layer's bit-sum limit by lowering the kernels ranked least important first.

When the search limits the sum of a layer's kernel QBNs (to keep the episode within a budget) and an
agent's desired bits exceed it, some kernels must get fewer bits than the agent chose. Which ones is
a decision of its own: lowering the last kernels by index (what a kernel-by-kernel cap does) takes the
bits from wherever the layer happens to end, whatever the agent thought of those kernels. Here the
agent passes its ranking (for a learned controller: the action it chose, higher meaning more bits
wanted) and the kernels it ranked lowest give up their bits first, each down to the minimum before
the next is touched.
"""

from __future__ import annotations

import numpy as np


def squeeze_to_sum(bits: np.ndarray, lo: int, sum_max: int | None, priority: np.ndarray | None = None) -> np.ndarray:
    """``bits`` lowered to sum to at most ``sum_max``, taking bits from the lowest ``priority`` first.

    Each kernel, in ascending order of ``priority`` (ties: the later index first), is lowered towards
    ``lo`` until the excess is gone. ``priority`` None ranks by index (the last kernel is the least
    important), which is what a kernel-by-kernel cap in index order gives. Bits already at or below
    ``lo`` are left alone; ``sum_max`` must be at least ``lo`` per kernel (the caller checks).
    """
    out = np.array(bits, np.int64)
    if sum_max is None:
        return out
    excess = int(out.sum()) - int(sum_max)
    if excess <= 0:
        return out
    n = len(out)
    rank = -np.arange(n, dtype=np.float64) if priority is None else np.asarray(priority, np.float64)
    if rank.shape != (n,):
        raise ValueError(f"priority of shape {rank.shape} for {n} kernels")
    # ascending priority; among equals the later index first (np.lexsort sorts by the last key first)
    order = np.lexsort((-np.arange(n), rank))
    for j in order:
        cut = min(excess, max(int(out[j]) - lo, 0))
        out[j] -= cut
        excess -= cut
        if excess == 0:
            break
    return out
