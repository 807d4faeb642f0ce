"""A synthetic task made of damage measured on a real network, with its exact optimum under a latency budget.

The formula task (synthetic.py) derives a kernel's damage from its weight std, the very quantity the
low-level controller's prior reads, so agents can know its answer in advance. This one reads a table
measured by ``benchmarks/measure_damage.py`` on a trained network and its holdout images: for every
kernel and weight width 1..8, the KL divergence from the float model's predictions when that kernel
alone is quantized; for every layer and activation width 2..8, the same for its input. The agents
observe what they always observe (layer shapes, kernel weight statistics), not the table.

The task adds the damages (how well that predicts the measured KL of whole policies is recorded
with the table), so the episode's KL is ``D = sum of the chosen entries`` and the reward is the
search's KL reward in resource mode, ``log(exp(-D)) = -D``. The cost is the temporal accelerator's
latency, per layer ``A[L, a] + B[L, a] * (sum of the layer's kernel bits)`` (an affine fit of the
real cost model at uniform bits, also recorded), under a budget of a fraction of the 8-bit latency.
:meth:`MeasuredTask.run_episode` runs the search's own episode driver and budget on this latency
(the rest of the network must still fit at the minimum widths); :meth:`MeasuredTask.optimum` solves the task exactly (a
dynamic program per layer, then an integer program over the layers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from autoq.agents.base import Agent
from autoq.agents.spec import NetworkSpec
from autoq.errors import AutoQError
from autoq.quant.discovery import LayerInfo
from autoq.search.budget import BudgetTracker
from autoq.search.rollout import SearchSpace
from autoq.tasks.synthetic import EpisodeResult, Solution, play_episode

W_LO, W_HI, A_LO, A_HI = 1, 8, 2, 8


@dataclass
class MeasuredTask:
    """Per-kernel and per-layer damage tables, latency model and budget of one measured network."""

    layers: list[LayerInfo]
    kernel_stats: list[np.ndarray]  # per layer [c_out, 3]: std, mean |w|, max |w|
    damage_w: list[np.ndarray]  # per layer [c_out, 8]: KL increase at 1..8 bits
    damage_a: np.ndarray  # [L, 7]: KL increase at 2..8 activation bits
    lat_a: np.ndarray  # [L, 7] latency intercept per activation width
    lat_b: np.ndarray  # [L, 7] latency per kernel bit per activation width
    budget: float = 0.5  # fraction of the 8/8-bit latency
    _spec: NetworkSpec | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path, budget: float = 0.5) -> MeasuredTask:
        """The task of a table written by ``benchmarks/measure_damage.py``."""
        path = Path(path)
        if not path.is_file():
            raise AutoQError(f"damage table {str(path)!r} does not exist: run benchmarks/measure_damage.py to measure it")
        z = np.load(path, allow_pickle=False)
        layers = [
            LayerInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) for d in json.loads(str(z["layers"]))
        ]
        cuts = np.cumsum(z["c_out"])[:-1]
        return cls(
            layers,
            np.split(z["kernel_stats"], cuts),
            np.split(z["damage_w"], cuts),
            z["damage_a"],
            z["lat_A"],
            z["lat_B"],
            budget,
        )

    @property
    def spec(self) -> NetworkSpec:
        if self._spec is None:
            self._spec = NetworkSpec.from_layers(self.layers, self.kernel_stats, (W_LO, W_HI), (A_LO, A_HI))
        return self._spec

    # reward and cost -------------------------------------------------------------------------------
    def damage(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        """Summed KL increase of the configuration (nats per image)."""
        d = sum(float(t[np.arange(len(b)), np.asarray(b) - W_LO].sum()) for t, b in zip(self.damage_w, w_bits))
        return d + float(self.damage_a[np.arange(len(a_bits)), np.asarray(a_bits) - A_LO].sum())

    def reward(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        """The KL reward of resource mode: ``log exp(-damage)``."""
        return -self.damage(w_bits, a_bits)

    def latency(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        ai = np.asarray(a_bits) - A_LO
        return float(sum(self.lat_a[i, ai[i]] + self.lat_b[i, ai[i]] * float(np.sum(b)) for i, b in enumerate(w_bits)))

    def latency_ref(self) -> float:
        return self.latency([np.full(layer.c_out, W_HI) for layer in self.layers], np.full(len(self.layers), A_HI))

    def limit(self) -> float:
        return self.budget * self.latency_ref()

    # driving an agent ------------------------------------------------------------------------------
    def layer_latency(self, i: int, w_bits: np.ndarray, a_bits: int) -> float:
        """Layer ``i``'s latency, ``A[i, a] + B[i, a] * (sum of its kernel bits)``: the budget's layer cost."""
        return float(self.lat_a[i, a_bits - A_LO] + self.lat_b[i, a_bits - A_LO] * float(np.sum(w_bits)))

    def budget_tracker(self) -> BudgetTracker:
        """The latency budget as the search keeps it: every layer leaves the rest room at the minimum widths."""
        n = len(self.layers)
        return BudgetTracker(self.layer_latency, [l.c_out for l in self.layers], self.limit(), [W_LO] * n, [A_LO] * n)

    def run_episode(self, agent: Agent, explore: bool = True) -> EpisodeResult:
        """One episode through the search's driver (:func:`~autoq.search.rollout.rollout`) and its latency budget."""
        space = SearchSpace(self.layers, (W_LO, W_HI), (A_LO, A_HI), pinned={})
        return play_episode(agent, space, self.budget_tracker(), self.reward, explore)

    # the exact optimum -----------------------------------------------------------------------------
    def layer_frontier(self, i: int, granularity: str = "kernel") -> np.ndarray:
        """Least weight damage of layer ``i`` for every bit sum S (index S - c_out * W_LO), exactly.

        ``kernel``: a dynamic program over the kernels, ``F_j(S) = min_b F_{j-1}(S - b) + D_j(b)``
        (the best split of S bits); ``layer``: one width for all kernels (inf where S is not c_out * b).
        """
        d = self.damage_w[i]
        n, nb = d.shape
        if granularity == "layer":
            out = np.full(n * (nb - 1) + 1, np.inf)
            out[np.arange(nb) * n] = d.sum(0)
            return out
        f = d[0].copy()  # sums 1..8 of the first kernel, offset by W_LO
        for j in range(1, n):
            g = np.full(len(f) + nb - 1, np.inf)
            for b in range(nb):
                np.minimum(g[b : b + len(f)], f + d[j, b], out=g[b : b + len(f)])
            f = g
        return f

    def optimum(self, granularity: str = "kernel", time_limit: float = 300.0) -> Solution:
        """Least summed damage within the latency budget, one QBN per kernel (``kernel``) or per layer (``layer``).

        Exact in two steps. Per layer, the least weight damage for every bit sum S is a dynamic program
        over the kernels (:meth:`layer_frontier`), and a layer's latency depends on its activation
        width a and S alone. Over the network it is then a multiple-choice knapsack: one (a, S) per
        layer, damage ``T[L, a] + F_L(S)``, latency ``A[L, a] + B[L, a] * S``, summed latency within the
        budget; options that another of the same layer beats on both are dropped, and the rest is an
        integer program (HiGHS, through scipy), solved to optimality unless ``time_limit`` runs out.
        """

        if granularity not in ("kernel", "layer"):
            raise ValueError(f"granularity must be kernel or layer, not {granularity!r}")
        options = []  # per layer: arrays (a index, S, damage, latency) of the undominated choices
        for i, layer in enumerate(self.layers):
            f = self.layer_frontier(i, granularity)
            sums = np.arange(len(f)) + layer.c_out * W_LO
            ok = np.isfinite(f)
            a_idx = np.repeat(np.arange(A_HI - A_LO + 1), ok.sum())
            s = np.tile(sums[ok], A_HI - A_LO + 1)
            dmg = self.damage_a[i][a_idx] + np.tile(f[ok], A_HI - A_LO + 1)
            lat = self.lat_a[i][a_idx] + self.lat_b[i][a_idx] * s
            order = np.lexsort((dmg, lat))
            keep = order[np.minimum.accumulate(dmg[order]) == dmg[order]]  # lowest damage so far, by rising latency
            keep = keep[np.r_[True, np.diff(dmg[keep]) < 0]]
            options.append((a_idx[keep], s[keep], dmg[keep], lat[keep]))
        sizes = [len(o[0]) for o in options]
        off = np.concatenate([[0], np.cumsum(sizes)])
        n_var = int(off[-1])
        rows = np.concatenate([np.full(k, i) for i, k in enumerate(sizes)] + [np.full(n_var, len(sizes))])
        cols = np.concatenate([np.arange(n_var), np.arange(n_var)])
        vals = np.concatenate([np.ones(n_var), np.concatenate([o[3] for o in options])])
        A = coo_matrix((vals, (rows, cols)), shape=(len(sizes) + 1, n_var)).tocsr()
        lo = np.r_[np.ones(len(sizes)), -np.inf]
        hi = np.r_[np.ones(len(sizes)), self.limit()]
        res = milp(
            np.concatenate([o[2] for o in options]),
            constraints=LinearConstraint(A, lo, hi),
            integrality=np.ones(n_var),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit, "mip_rel_gap": 0.0},
        )
        if res.x is None:
            raise AutoQError(f"the measured task's program found no solution ({res.message}); raise the budget")
        pick = [int(np.argmax(res.x[off[i] : off[i + 1]])) for i in range(len(sizes))]
        a_bits = np.array([options[i][0][p] + A_LO for i, p in enumerate(pick)], np.int64)
        w_bits = [self._split(i, int(options[i][1][p]), granularity) for i, p in enumerate(pick)]
        return Solution(self.reward(w_bits, a_bits), w_bits, a_bits)

    def _split(self, i: int, total: int, granularity: str) -> np.ndarray:
        """The kernel widths of layer ``i`` that reach :meth:`layer_frontier`'s damage at bit sum ``total``."""
        d = self.damage_w[i]
        n, nb = d.shape
        if granularity == "layer":
            return np.full(n, total // n, np.int64)
        tables = [d[0].copy()]
        for j in range(1, n):  # the forward pass again, keeping every kernel's table to trace back
            f = tables[-1]
            g = np.full(len(f) + nb - 1, np.inf)
            for b in range(nb):
                np.minimum(g[b : b + len(f)], f + d[j, b], out=g[b : b + len(f)])
            tables.append(g)
        bits = np.zeros(n, np.int64)
        rest = total - n * W_LO  # index into the last table
        for j in range(n - 1, 0, -1):
            prev = tables[j - 1]
            cands = [(prev[rest - b] + d[j, b], b) for b in range(nb) if 0 <= rest - b < len(prev)]
            _, b = min(cands)
            bits[j] = b + W_LO
            rest -= b
        bits[0] = rest + W_LO
        return bits
