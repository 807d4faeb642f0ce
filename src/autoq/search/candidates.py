"""Per-layer candidate configurations of the integer program, each costed exactly by the cost model.

A candidate of layer ``i`` is one activation bit width and one weight bit width per *kernel group*:
the layer's kernels ranked by their estimated sensitivity and cut into ``groups`` equal parts, the
more sensitive groups never narrower than the less sensitive ones (``groups = 1`` is layer-wise
precision, and every layer-wise candidate is also a kernel-wise one). Each candidate carries its
estimated loss increase and its latency, energy, weight BRAM36 and weight bits, computed for all of
a layer's candidates in one vectorised call of a cost model that holds the layer once per
candidate; per candidate these are exactly :meth:`CostModel.layer_costs`, whose sums over layers
are the network's totals.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from autoq.hardware import CostModel
from autoq.search.rollout import SearchSpace
from autoq.search.sensitivity import Sensitivity

COST_COLUMNS = ("latency", "energy", "bram36", "size")


@dataclass
class LayerCandidates:
    """Every configuration the program may choose for one layer."""

    w_bits: np.ndarray  # [n, c_out] kernel bits
    a_bits: np.ndarray  # [n]
    sensitivity: np.ndarray  # [n] estimated loss increase
    costs: np.ndarray  # [n, 4] in COST_COLUMNS order

    def keep(self, mask: np.ndarray) -> LayerCandidates:
        return LayerCandidates(self.w_bits[mask], self.a_bits[mask], self.sensitivity[mask], self.costs[mask])


def kernel_groups(kernel_cost: np.ndarray, bits: range, groups: int) -> list[np.ndarray]:
    """Kernel indices cut into ``groups`` equal parts, most sensitive first.

    A kernel's rank is its estimated loss increase summed over the searched bit widths.
    """
    score = kernel_cost[:, list(bits)].sum(1)
    order = np.argsort(-score, kind="stable")
    return [g for g in np.array_split(order, min(groups, len(order))) if len(g)]


def layer_candidates(i: int, space: SearchSpace, sens: Sensitivity, cost_model: CostModel, groups: int) -> LayerCandidates:
    """All candidates of layer ``i`` (one, at its pinned bits, for a pinned layer)."""
    layer = space.layers[i]
    kcost, acost = sens.kernel_cost(i), sens.act_cost(i)
    if i in space.pinned:
        b = space.pinned[i]
        alloc, a_range, parts = [(b,)], [b], [np.arange(layer.c_out)]
    else:
        w_bits = range(space.w_range[0], space.w_range[1] + 1)
        parts = kernel_groups(kcost, w_bits, groups)
        alloc = list(itertools.combinations_with_replacement(sorted(w_bits, reverse=True), len(parts)))
        a_range = list(range(space.a_range[0], space.a_range[1] + 1))
    w = np.empty((len(alloc), layer.c_out), dtype=np.int64)
    for g, idx in enumerate(parts):
        w[:, idx] = np.array(alloc)[:, g : g + 1]
    w_sens = kcost[np.arange(layer.c_out)[None, :], w].sum(1)
    W = np.repeat(w, len(a_range), axis=0)
    A = np.tile(np.array(a_range, dtype=np.int64), len(alloc))
    sensitivity = np.repeat(w_sens, len(a_range)) + acost[A]
    return LayerCandidates(W, A, sensitivity, candidate_costs(cost_model, i, W, A))


def candidate_costs(cost_model: CostModel, i: int, w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
    """``[n, 4]``: latency, energy, weight BRAM36 the area counts (none unless the board keeps weights
    on chip, as in :meth:`CostModel.layer_costs`) and weight bits of layer ``i`` at each row's bits."""
    layer = cost_model.layers[i]
    many = CostModel([layer] * len(a_bits), cost_model.accelerator, cost_model.sort_kernels, cost_model.batch)
    rep = many.evaluate_bits(list(w_bits), a_bits.tolist())
    out = np.empty((len(a_bits), len(COST_COLUMNS)))
    out[:, 0] = [l.latency_s for l in rep.layers]
    out[:, 1] = [l.energy_j for l in rep.layers]
    out[:, 2] = [cost_model.counted_bram36(l.bram36) for l in rep.layers]
    out[:, 3] = w_bits.sum(1) * layer.kernel_numel
    return out


def pareto_mask(sensitivity: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Candidates that no other beats on both ``cost`` and sensitivity (of equal ones, the first).

    Only these can be in an optimal choice: swapping a dominated candidate for its dominator never
    raises the total cost or the total sensitivity.
    """
    order = np.lexsort((sensitivity, cost))
    best = np.inf
    keep = np.zeros(len(cost), dtype=bool)
    for j in order:
        if sensitivity[j] < best:
            keep[j], best = True, sensitivity[j]
    return keep
