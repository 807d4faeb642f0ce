"""``--agent ilp``: sensitivity plus a multiple-choice integer program, in place of a learned agent.

HAWQ-V3's recipe on our accelerator models: estimate every layer's sensitivity once
(:mod:`autoq.search.sensitivity`), cost every candidate configuration of every layer exactly
(:mod:`autoq.search.candidates`), then choose one candidate per layer with SciPy's ``milp`` (HiGHS):

- resource mode: minimise the total sensitivity with the budgeted metric (a sum over layers) at
  most the budget;
- accuracy mode: the reward's ψ-weighted cost terms are linearised at the 8-bit model
  (``log(x/x₈) ≈ x/x₈ − 1``), and the program is solved at a few levels of that cost; each
  solution is scored and the best reward wins, as the agents' best episode does.

Every solution is scored by the same :class:`~autoq.search.environment.QuantEnv` as the agents'
episodes and written to the same run folder (one row of ``episodes.csv`` per solution).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from autoq.errors import AutoQError
from autoq.search.candidates import LayerCandidates, layer_candidates, pareto_mask
from autoq.search.rollout import SearchSpace

ACCURACY_LEVELS = 6  # programs solved in accuracy mode, from the cheapest feasible cost to the 8-bit one


def solve_choice(values: Sequence[np.ndarray], costs: Sequence[np.ndarray] | None = None, room: float | None = None) -> list[int]:
    """One index per group minimising the summed ``values`` with the summed ``costs`` at most ``room``.

    The constraint row is checked exactly afterwards; if the solver's feasibility tolerance let it
    pass by a hair, the row is tightened by that much and the program solved again.
    """

    sizes = [len(v) for v in values]
    n = sum(sizes)
    scale = max(float(np.abs(np.concatenate(values)).max()), 1e-300)
    c = np.concatenate(values) / scale
    rows = np.repeat(np.arange(len(sizes)), sizes)
    constraints = [LinearConstraint(csr_matrix((np.ones(n), (rows, np.arange(n))), shape=(len(sizes), n)), 1, 1)]
    row = np.concatenate(costs) / room if costs is not None else None
    rhs = 1.0
    for _ in range(5):
        extra = [LinearConstraint(row[None, :], -np.inf, rhs)] if row is not None else []
        res = milp(
            c,
            integrality=np.ones(n),
            bounds=Bounds(0, 1),
            constraints=constraints + extra,
            options={"mip_rel_gap": 1e-6, "time_limit": 120.0},
        )
        if res.x is None:
            raise AutoQError(f"the integer program found no solution ({res.message}); raise the budget")
        x = res.x > 0.5
        picks = [int(np.flatnonzero(part)[0]) for part in np.split(x, np.cumsum(sizes)[:-1])]
        if row is None or _total(costs, picks) <= room:
            return picks
        rhs -= 2 * (_total(costs, picks) / room - 1) + 1e-12
    raise AutoQError("the integer program's solutions kept exceeding the budget by rounding; raise the budget slightly")


def _total(costs: Sequence[np.ndarray], picks: list[int]) -> float:
    return float(sum(c[j] for c, j in zip(costs, picks)))


def all_candidates(space: SearchSpace, sens, cost_model, groups: int) -> list[LayerCandidates]:
    """Every layer's candidates (``groups = 1``: layer-wise)."""
    return [layer_candidates(i, space, sens, cost_model, groups) for i in range(len(space.layers))]


def choose(cands: list[LayerCandidates], cost: list[np.ndarray], room: float) -> list[tuple[np.ndarray, int]]:
    """Each layer's least sensitive choice whose ``cost`` (one array per layer) sums to at most ``room``."""
    masks = [pareto_mask(c.sensitivity, k) for c, k in zip(cands, cost)]
    picks = solve_choice([c.sensitivity[m] for c, m in zip(cands, masks)], [k[m] for k, m in zip(cost, masks)], room)
    return [(c.w_bits[m][j], int(c.a_bits[m][j])) for c, m, j in zip(cands, masks, picks)]


def weighted_cost(cands: list[LayerCandidates], ref8: dict, psi: dict[str, float], device_bram36: int) -> list[np.ndarray]:
    """Per candidate, ``Σ ψ_x · x / x₈`` over latency, energy and area (area through its weight BRAM)."""
    out = []
    for c in cands:
        w = psi["latency"] * c.costs[:, 0] / ref8["latency_s"] + psi["energy"] * c.costs[:, 1] / ref8["energy_j"]
        if psi["area"]:
            w = w + psi["area"] * c.costs[:, 2] / device_bram36 / ref8["area"]
        out.append(w)
    return out


def accuracy_programs(
    cands: list[LayerCandidates], weighted: list[np.ndarray], levels: int
) -> list[list[tuple[np.ndarray, int]]]:
    """Solutions at ``levels`` weighted-cost budgets from the cheapest choice up to the most expensive."""
    lo = sum(float(w.min()) for w in weighted)
    hi = sum(float(w.max()) for w in weighted)
    rooms = np.linspace(lo, hi, levels) if hi > lo else [hi]
    return [choose(cands, weighted, float(r) * (1 + 1e-12)) for r in rooms]
