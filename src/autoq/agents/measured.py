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
:meth:`MeasuredTask.run_episode` limits each layer the way the search does (the rest of the network
must still fit at the minimum widths); :meth:`MeasuredTask.optimum` solves the task exactly as a
mixed-integer program (HiGHS, through scipy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoq.errors import AutoQError
from autoq.quant.discovery import LayerInfo

from .base import Agent, KernelLimits, NetworkSpec
from .synthetic import EpisodeResult, Solution

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
    def load(cls, path: str | Path, budget: float = 0.5) -> "MeasuredTask":
        """The task of a table written by ``benchmarks/measure_damage.py``."""
        path = Path(path)
        if not path.is_file():
            raise AutoQError(f"damage table {str(path)!r} does not exist: run benchmarks/measure_damage.py to measure it")
        z = np.load(path, allow_pickle=False)
        layers = [LayerInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) for d in json.loads(str(z["layers"]))]
        cuts = np.cumsum(z["c_out"])[:-1]
        return cls(
            layers, np.split(z["kernel_stats"], cuts), np.split(z["damage_w"], cuts), z["damage_a"],
            z["lat_A"], z["lat_B"], budget,
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

    def _min_latency(self, i: int) -> float:
        return float(self.lat_a[i, 0] + self.lat_b[i, 0] * self.layers[i].c_out * W_LO)

    # driving an agent ------------------------------------------------------------------------------
    def run_episode(self, agent: Agent, explore: bool = True) -> EpisodeResult:
        """One episode with the search's resource-mode limits: every layer leaves the rest room at the minimum widths."""
        n, limit = len(self.layers), self.limit()
        min_rest = np.concatenate([np.cumsum([self._min_latency(i) for i in range(n)][::-1])[::-1][1:], [0.0]])
        agent.begin_episode(explore)
        used = 0.0
        w_bits, a_bits = [], np.zeros(n, np.int64)
        for i, layer in enumerate(self.layers):
            room = limit - used - min_rest[i]
            fits = [a for a in range(A_LO, A_HI + 1) if self.lat_a[i, a - A_LO] + self.lat_b[i, a - A_LO] * layer.c_out * W_LO <= room + 1e-15]
            act_max = max(fits) if fits else A_LO
            sum_of = lambda a: int(np.floor((room - self.lat_a[i, a - A_LO]) / self.lat_b[i, a - A_LO] + 1e-9))  # noqa: E731
            goal_max = min(W_HI, sum_of(act_max) / layer.c_out)
            a, _goal = agent.act_layer(i, budget_left=max(0.0, (limit - used) / limit), act_max=act_max, goal_max=max(goal_max, W_LO))
            bits = agent.act_kernels(i, KernelLimits(W_HI, max(sum_of(a), layer.c_out * W_LO)))
            w_bits.append(bits)
            a_bits[i] = a
            used += self.lat_a[i, a - A_LO] + self.lat_b[i, a - A_LO] * float(bits.sum())
        reward = self.reward(w_bits, a_bits)
        info = agent.end_episode(reward, w_bits, a_bits)
        return EpisodeResult(reward, w_bits, a_bits, info)

    # the exact optimum -----------------------------------------------------------------------------
    def optimum(self, granularity: str = "kernel", time_limit: float = 120.0) -> Solution:
        """Least summed damage within the latency budget, one QBN per kernel (``kernel``) or per layer (``layer``).

        A mixed-integer program: binaries ``x[L, a]`` (layer L's activation width) and ``y[L, k, b]``
        (kernel k's weight width; per layer one shared set with ``layer``), and per (L, a) a continuous
        ``s >= S_L - M (1 - x[L, a])`` standing for ``x[L, a] * S_L`` (S_L the layer's bit sum), which
        makes the latency linear. Solved to optimality by HiGHS unless ``time_limit`` runs out first.
        """
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        if granularity not in ("kernel", "layer"):
            raise ValueError(f"granularity must be kernel or layer, not {granularity!r}")
        nb, na, L = W_HI - W_LO + 1, A_HI - A_LO + 1, len(self.layers)
        groups = [layer.c_out if granularity == "kernel" else 1 for layer in self.layers]  # weight variables per layer
        y_off = np.concatenate([[0], np.cumsum([g * nb for g in groups])])
        n_y, n_x = int(y_off[-1]), L * na
        x_off, s_off = n_y, n_y + n_x
        n_var = s_off + n_x
        cost = np.zeros(n_var)
        bits = np.arange(W_LO, W_HI + 1, dtype=np.float64)
        rows, cols, vals, lo, hi = [], [], [], [], []
        r = 0
        for i, layer in enumerate(self.layers):
            d = self.damage_w[i] if granularity == "kernel" else self.damage_w[i].sum(0, keepdims=True)
            cost[y_off[i] : y_off[i + 1]] = d.reshape(-1)
            cost[x_off + i * na : x_off + (i + 1) * na] = self.damage_a[i]
            for g in range(groups[i]):  # one width per kernel (or for the layer)
                idx = y_off[i] + g * nb + np.arange(nb)
                rows += [r] * nb; cols += idx.tolist(); vals += [1.0] * nb; lo.append(1); hi.append(1); r += 1  # noqa: E702
            idx = x_off + i * na + np.arange(na)
            rows += [r] * na; cols += idx.tolist(); vals += [1.0] * na; lo.append(1); hi.append(1); r += 1  # noqa: E702
            per = layer.c_out if granularity == "layer" else 1  # a layer-wise width counts for every kernel
            big = float(layer.c_out * W_HI)
            for a in range(na):  # s - S_L - big * x >= -big
                yi = y_off[i] + np.arange(groups[i] * nb)
                rows += [r] * (len(yi) + 2)
                cols += yi.tolist() + [s_off + i * na + a, x_off + i * na + a]
                vals += (-np.tile(bits, groups[i]) * per).tolist() + [1.0, -big]
                lo.append(-big); hi.append(np.inf); r += 1  # noqa: E702
        # latency: sum_L sum_a (A[L, a] x[L, a] + B[L, a] s[L, a]) <= limit
        lat_cols = list(range(x_off, x_off + n_x)) + list(range(s_off, s_off + n_x))
        rows += [r] * len(lat_cols); cols += lat_cols; vals += self.lat_a.reshape(-1).tolist() + self.lat_b.reshape(-1).tolist()  # noqa: E702
        lo.append(-np.inf); hi.append(self.limit()); r += 1  # noqa: E702
        A = coo_matrix((vals, (rows, cols)), shape=(r, n_var)).tocsr()
        integrality = np.concatenate([np.ones(n_y + n_x), np.zeros(n_x)])
        ub = np.concatenate([np.ones(n_y + n_x), np.full(n_x, np.inf)])
        res = milp(cost, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=Bounds(0, ub),
                   options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
        if res.x is None:
            raise AutoQError(f"the measured task's program found no solution ({res.message}); raise the budget")
        sol = np.round(res.x).astype(np.int64)
        w_bits = []
        for i, layer in enumerate(self.layers):
            choice = sol[y_off[i] : y_off[i + 1]].reshape(groups[i], nb).argmax(1) + W_LO
            w_bits.append(np.repeat(choice, layer.c_out) if granularity == "layer" else choice)
        a_bits = sol[x_off : x_off + n_x].reshape(L, na).argmax(1) + A_LO
        return Solution(self.reward(w_bits, a_bits), w_bits, a_bits)
