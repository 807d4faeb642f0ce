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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class BitCap:
    """A layer's kernel-bit limits: every kernel in ``[lo, w_max]``, their sum at most ``sum_max`` (None: no limit).

    The one place agents turn a :class:`~autoq.agents.spec.KernelLimits` into bits: :meth:`apply`
    caps a whole layer's choice at once, :meth:`kernel_max` caps kernel by kernel in index order.
    """

    lo: int
    w_max: int
    sum_max: int | None = None

    def kernel_max(self, j: int, n: int, used: int) -> int:
        """Most bits kernel ``j`` of ``n`` may take when the kernels before it took ``used``, leaving ``lo`` to each after it."""
        if self.sum_max is None:
            return self.w_max
        return min(self.w_max, self.sum_max - used - (n - j - 1) * self.lo)

    def apply(self, bits: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
        """``bits`` clipped to ``w_max``, then lowered to ``sum_max`` from the lowest ``priority`` up (:func:`squeeze_to_sum`)."""
        return squeeze_to_sum(np.minimum(np.asarray(bits, np.int64), self.w_max), self.lo, self.sum_max, priority)


def enforce_limits(
    desired: np.ndarray, w_min: int, w_max: int, bits_sum_max: int | None, priority: np.ndarray | None = None
) -> np.ndarray:
    """Clip desired kernel QBNs to ``w_max``, then lower them to the layer's bit-sum limit.

    The kernels of lowest ``priority`` lose their bits first (see :func:`~autoq.agents.squeeze.squeeze_to_sum`;
    None: the last kernels by index).
    """
    return BitCap(w_min, w_max, bits_sum_max).apply(desired, priority)
