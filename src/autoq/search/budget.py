"""Resource budgets: parsing, feasibility, and keeping every episode's policy inside the budget.

All four budget metrics are sums over layers (latency and energy run layer after layer; the area
scalar moves only through the BRAM that stores resident weights; model size is bits × weights), so
the search keeps a running total: when layer ``L`` is decided, the layers before it count at the exact
cost of their chosen bits and the layers after it at their minimum bits (exact too: a layer whose
kernels share one width has no tile slack).

Within a layer the agent is given a bit-sum limit, the largest sum that an even spread or a two-width
choice holding it fits; tiles run at their widest kernel, so another choice with that sum can cost
more. :meth:`BudgetTracker.fit`
therefore checks the exact (sorted-tile) cost of the bits the agent chose and, only if they overshoot
the layer's room, lowers the kernels the agent ranked lowest, so the kernels it ranked highest keep
their bits and a choice that fits is never changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autoq.errors import AutoQError

if TYPE_CHECKING:
    from autoq.hardware.cost import CostModel
    from autoq.search.environment import Outcome
    from autoq.search.rollout import SearchSpace

UNITS = {
    "latency": {"s": 1.0, "ms": 1e-3, "us": 1e-6},
    "energy": {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6},
    "size": {"bit": 1.0, "B": 8.0, "KB": 8e3, "MB": 8e6, "KiB": 8 * 1024.0, "MiB": 8 * 1024.0**2},
    "area": {},
}
DISPLAY = {"latency": ("ms", 1e-3), "energy": ("mJ", 1e-3), "size": ("KB", 8e3), "area": ("", 1.0)}


@dataclass(frozen=True)
class BudgetSpec:
    """``metric=value``: a fraction (of the 8-bit model's figure; for area, of the device), or an absolute value with a unit."""

    metric: str
    value: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> BudgetSpec:
        m = re.fullmatch(r"\s*(latency|energy|area|size)\s*=\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*", text or "")
        if not m:
            raise AutoQError(
                f"budget {text!r}: write METRIC=VALUE with METRIC latency, energy, area or size, "
                "e.g. latency=0.5 (of the 8-bit model), latency=3ms or area=0.9 (of the device)"
            )
        metric, number, unit = m.groups()
        try:
            value = float(number)
        except ValueError:
            raise AutoQError(f"budget {text!r}: {number!r} is not a number") from None
        if value <= 0:
            raise AutoQError(f"budget {text!r}: the value must be positive")
        if not unit:
            return cls(metric, value, relative=True)
        units = UNITS[metric]
        if unit not in units:
            known = ", ".join(units) or "none (area is the fraction of the device the design uses)"
            raise AutoQError(f"budget {text!r}: unknown unit {unit!r} for {metric}; units: {known}")
        return cls(metric, value * units[unit], relative=False)


def describe(metric: str, value: float) -> str:
    """A budget value in the unit a user would write it in."""
    unit, scale = DISPLAY[metric]
    return f"{value / scale:.4g}{unit}" if unit else f"{value:.4g}"


#: ``layer_cost(i, w_bits, a_bits)``: layer ``i``'s contribution to a budgeted metric (or any summed cost)
LayerCostFn = Callable[[int, np.ndarray, int], float]

#: which :class:`~autoq.hardware.cost.LayerCosts` field each cost-model metric sums
COST_FIELD = {"latency": "latency_s", "energy": "energy_j", "area": "bram36"}
#: which :class:`~autoq.search.environment.Outcome` field each metric is
OUTCOME_FIELD = {"latency": "latency_s", "energy": "energy_j", "area": "area", "size": "size_bits"}


def rank_lowest_first(w_bits: np.ndarray) -> np.ndarray:
    """Kernel indices from the one the agent ranked lowest up: fewest bits first, among equals the later."""
    w = np.asarray(w_bits)
    return np.lexsort((-np.arange(len(w)), w))


def lower_lowest_ranked(w_bits: np.ndarray, w_min: int, steps: int) -> np.ndarray:
    """``w_bits`` after ``steps`` one-bit decrements, each from the lowest-ranked kernel still above ``w_min``.

    The lowest-ranked kernel stays the lowest as it drops, so kernels go to ``w_min`` one after the
    other in :func:`rank_lowest_first` order.
    """
    w = np.asarray(w_bits, dtype=np.int64)
    order = rank_lowest_first(w)
    slack = np.maximum(w[order] - w_min, 0)
    before = np.cumsum(slack) - slack
    out = w.copy()
    out[order] -= np.clip(steps - before, 0, slack)
    return out


def _largest(lo: int, hi: int, fits: Callable[[int], bool]) -> int:
    """Largest ``k`` in ``[lo, hi]`` with ``fits(k)``, for ``fits`` true at ``lo`` and true then false."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _even(total: int, n: int) -> np.ndarray:
    """``n`` kernel widths summing to ``total``, as even as integers allow."""
    base, extra = divmod(total, n)
    bits = np.full(n, base)
    bits[:extra] += 1
    return bits


def _two_width_sum(n: int, w_min: int, w_max: int, fits: Callable[[np.ndarray], bool], best: int) -> int:
    """The larger of ``best`` and the largest sum of a fitting two-width choice of ``n`` kernels.

    ``k`` kernels at ``hi``, the rest at ``lo``, for every pair with ``lo`` the minimum or ``hi`` the
    maximum; pairs that cannot beat ``best`` are skipped.
    """
    pairs = {(w_min, hi) for hi in range(w_min + 1, w_max + 1)} | {(lo, w_max) for lo in range(w_min, w_max)}
    for lo, hi in sorted(pairs, key=lambda p: (-p[1], -p[0])):
        if n * hi <= best:
            continue

        def two(k: int, lo: int = lo, hi: int = hi) -> np.ndarray:
            return np.concatenate([np.full(k, hi), np.full(n - k, lo)])

        if fits(two(0)):
            best = max(best, n * lo + _largest(0, n, lambda k: fits(two(k))) * (hi - lo))
    return best


class BudgetTracker:
    """Action limits that keep the network within ``limit`` given what is decided so far.

    ``layer_cost(i, w_bits, a_bits)`` is layer ``i``'s contribution to the budgeted metric;
    ``fixed`` is the part that no bit width changes (e.g. the accelerator's own BRAM for area).
    """

    def __init__(
        self,
        layer_cost: LayerCostFn,
        c_out: Sequence[int],
        limit: float,
        w_min: Sequence[int],
        a_min: Sequence[int],
        fixed: float = 0.0,
    ) -> None:
        self.layer_cost = layer_cost
        self.c_out = list(c_out)
        self.limit = limit
        self.fixed = fixed
        self.w_min, self.a_min = list(w_min), list(a_min)
        self.min_costs = np.array([layer_cost(i, np.full(c, self.w_min[i]), self.a_min[i]) for i, c in enumerate(self.c_out)])
        self.reset()

    @property
    def minimum(self) -> float:
        """The metric with every layer at its smallest bits."""
        return self.fixed + float(self.min_costs.sum())

    def reset(self) -> None:
        self.spent = self.fixed

    def room(self, i: int) -> float:
        """What layer ``i`` may cost: the limit less the decided layers and the rest at minimum."""
        return self.limit - self.spent - float(self.min_costs[i + 1 :].sum())

    def fraction_left(self) -> float:
        """Share of the budget not yet spent (an agent observation)."""
        return max(0.0, (self.limit - self.spent) / self.limit)

    def act_max(self, i: int, a_max: int) -> int:
        """Largest activation bits of layer ``i`` that still fit with its kernels at minimum."""
        room, w = self.room(i), np.full(self.c_out[i], self.w_min[i])
        for a in range(a_max, self.a_min[i], -1):
            if self.layer_cost(i, w, a) <= room:
                return a
        return self.a_min[i]

    def weight_limits(self, i: int, a_bits: int, w_max: int) -> tuple[int, int]:
        """``(w_max, bits_sum_max)`` for layer ``i``'s kernels at ``a_bits`` activation bits.

        The largest bit sum that a fitting choice of one of two shapes holds: an even spread (on the
        bit-serial array about the cheapest way to place a sum in tiles) or two widths, some kernels at
        one and the rest at the other (on the bit-fusion array, whose cost moves in steps at the fused
        precisions, this holds more bits than an even spread of the same cost). So the limit hardly
        ever cuts a choice that fits; another choice with that sum can cost more, which :meth:`fit`
        checks exactly.
        """
        c, room, lo_bits = self.c_out[i], self.room(i), self.w_min[i]

        def fits(bits: np.ndarray) -> bool:
            return self.layer_cost(i, bits, a_bits) <= room

        if fits(np.full(c, w_max)):
            return w_max, c * w_max
        total = _largest(c * lo_bits, c * w_max, lambda t: fits(_even(t, c)))
        total = _two_width_sum(c, lo_bits, w_max, fits, total)
        top = min(w_max, total - (c - 1) * lo_bits)  # one kernel may take what the others leave
        return max(lo_bits, top), total

    def fit(self, i: int, w_bits: np.ndarray, a_bits: int) -> tuple[np.ndarray, int, int]:
        """``(w_bits, a_bits, steps)``: layer ``i``'s choice, lowered as little as needed to fit its room.

        The exact cost decides. A choice that fits is returned unchanged (``steps`` 0); otherwise the
        fewest one-bit decrements of the lowest-ranked kernels that fit (found by bisection: each
        decrement never raises the cost), then, if the kernels all reach their minimum, the
        activation bits, which :meth:`act_max` chose so that they fit there.
        """
        room = self.room(i)
        tol = room + abs(room) * 1e-12
        w = np.asarray(w_bits, dtype=np.int64)
        if self.layer_cost(i, w, a_bits) <= tol:
            return w, a_bits, 0
        w_min, a_min = self.w_min[i], self.a_min[i]
        most = int(np.maximum(w - w_min, 0).sum())
        floor = lower_lowest_ranked(w, w_min, most)
        if self.layer_cost(i, floor, a_bits) > tol:
            a = a_bits
            while a > a_min and self.layer_cost(i, floor, a) > tol:
                a -= 1
            return floor, a, most + a_bits - a
        lo, hi = 1, most
        while lo < hi:
            mid = (lo + hi) // 2
            fits = self.layer_cost(i, lower_lowest_ranked(w, w_min, mid), a_bits) <= tol
            lo, hi = (lo, mid) if fits else (mid + 1, hi)
        return lower_lowest_ranked(w, w_min, lo), a_bits, lo

    def commit(self, i: int, w_bits: np.ndarray, a_bits: int) -> None:
        self.spent += self.layer_cost(i, w_bits, a_bits)


def lowering_sweep(
    layer_cost: LayerCostFn,
    w_bits: list[np.ndarray],
    a_bits: list[int],
    limit: float,
    w_min: Sequence[int],
    a_min: Sequence[int],
    fixed: float = 0.0,
) -> int:
    """Lower bits in place, costliest layer first, until the total fits ``limit``; returns the steps taken.

    A safety net: with :meth:`BudgetTracker.fit` applied to every layer an episode already fits, so
    this only acts on a policy that was not built through the tracker. Each step lowers the costliest
    layer that can still go lower by one bit: the kernel the agent ranked lowest among those above
    their minimum (so the spread the agent chose keeps its top), or, when every kernel is at its
    minimum, the activation bits.
    """
    costs = np.array([layer_cost(i, w, a) for i, (w, a) in enumerate(zip(w_bits, a_bits))])
    steps = 0
    while fixed + costs.sum() > limit * (1 + 1e-12):
        order = np.argsort(-costs, kind="stable")
        for i in order:
            can_w = bool((w_bits[i] > w_min[i]).any())
            if not (can_w or a_bits[i] > a_min[i]):
                continue
            if can_w:
                w_bits[i][:] = lower_lowest_ranked(w_bits[i], w_min[i], 1)
            else:
                a_bits[i] -= 1
            costs[i] = layer_cost(i, w_bits[i], a_bits[i])
            steps += 1
            break
        else:
            raise AutoQError("the budget cannot be met even at the minimum bits")
    return steps


class Budget:
    """A :class:`BudgetSpec` made concrete for one network and board: the absolute limit, the metric as
    a sum over layers (``layer_cost``), and the :class:`BudgetTracker` that keeps episodes within it.

    Size is bits × weights per layer; latency, energy and weight BRAM are the named fields of
    :meth:`CostModel.layer_costs`. The area is the utilisation ``U``, a fraction of the device (so an
    area budget is one too, never relative to the 8-bit model): ``max(fixed utilisation, (fixed +
    weight BRAM36) / device BRAM36)``, and its tracker sums BRAM36 against ``limit × device BRAM36``; a
    limit below the accelerator's own utilisation is :attr:`accelerator_exceeds`, which
    :meth:`check_feasible` refuses.
    """

    def __init__(self, spec: BudgetSpec, cost_model: CostModel, space: SearchSpace, ref8: Outcome) -> None:
        self.spec, self.cost_model, self.space = spec, cost_model, space
        layers = space.layers
        self.fixed = 0.0
        self.accelerator_exceeds = False
        if spec.metric == "size":
            self.layer_cost: LayerCostFn = lambda i, w, a: float(np.sum(w)) * layers[i].kernel_numel
        else:
            name = COST_FIELD[spec.metric]
            self.layer_cost = lambda i, w, a: getattr(cost_model.layer_costs(i, w, a), name)
        self.reference = self.value(ref8)
        self.limit = spec.value * self.reference if spec.relative and spec.metric != "area" else spec.value
        tracked_limit = self.limit
        if spec.metric == "area":  # weight BRAM36 are counted only on a board that keeps weights on chip
            self.fixed = cost_model.fixed_bram36()
            tracked_limit = self.limit * cost_model.device_bram36()
            self.accelerator_exceeds = cost_model.fixed_utilisation() > self.limit
        w_min, a_min = space.minimum()
        self.tracker = BudgetTracker(self.layer_cost, [l.c_out for l in layers], tracked_limit, w_min, a_min, self.fixed)
        self.minimum = self.to_metric(self.tracker.minimum)

    def to_metric(self, total: float) -> float:
        """The budgeted metric of a tracked total (the identity except for the area's utilisation)."""
        if self.spec.metric != "area":
            return total
        return max(self.cost_model.fixed_utilisation(), total / self.cost_model.device_bram36())

    def check_feasible(self) -> None:
        """Refuse a budget that no policy meets, naming the smallest one that can be met."""
        if self.accelerator_exceeds or self.minimum > self.limit * (1 + 1e-9):
            metric = self.spec.metric
            if metric == "area":
                smallest = f"area={self.minimum:.4f} of the device"
                if self.accelerator_exceeds:
                    smallest += (
                        ": the accelerator's own array and buffers take that much, whatever the bits "
                        "(a smaller array or shallower buffers in the board file take less)"
                    )
            else:
                smallest = f"{metric}={self.minimum / self.reference:.4f} of the 8-bit model ({describe(metric, self.minimum)})"
            raise AutoQError(
                f"budget {metric}={describe(metric, self.limit)} cannot be met even at the minimum bits; "
                f"the smallest feasible is {smallest}"
            )

    def value(self, out: Outcome) -> float:
        """The budgeted metric of a scored policy."""
        return getattr(out, OUTCOME_FIELD[self.spec.metric])

    def met(self, out: Outcome) -> bool:
        return self.value(out) <= self.limit * (1 + 1e-9)

    def as_record(self) -> dict:
        """The budget as ``references.json`` records it."""
        return {"metric": self.spec.metric, "limit": self.limit, "minimum": self.minimum, "reference_8bit": self.reference}
