"""Agents that do not learn: random search and the network-wise uniform sweep."""

from __future__ import annotations

import numpy as np

from .base import Agent
from .config import AgentConfig
from .registry import AGENTS
from .spec import NetworkSpec
from .squeeze import BitCap, enforce_limits


class RandomAgent(Agent):
    """Uniformly random QBNs within the limits: activation per layer, weight per kernel.

    Under a bit-sum limit, kernels are drawn in order, each uniform up to what the limit leaves it.
    """

    name = "random"

    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, None]:
        return int(self.rng.integers(self.a_lo, act_max + 1)), None

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        n, lo = self.spec.c_out[i], self.w_lo
        if bits_sum_max is None:
            return self.rng.integers(lo, w_max + 1, size=n)
        u = self.rng.random(n)  # one draw per kernel whatever the caps, so the stream stays aligned
        limits = BitCap(lo, w_max, bits_sum_max)
        bits = np.empty(n, np.int64)
        used = 0
        for j in range(n):
            cap = limits.kernel_max(j, n, used)
            bits[j] = lo + int(u[j] * (cap - lo + 1))
            used += int(bits[j])
        return bits


class UniformAgent(Agent):
    """Network-wise sweep: one (weight, activation) QBN pair for the whole network per episode.

    Episode e uses pair e modulo the number of pairs, in the order: equal weight and activation QBN
    from high to low (the paper's 8..2-bit sweep), then pairs differing by 1 bit, by 2 bits, ...,
    each group from the most to the fewest total bits. Pairs are clipped to the limits.
    """

    name = "uniform"

    def __init__(self, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> None:
        super().__init__(spec, config, seed)
        pairs = [(w, a) for w in range(self.w_lo, self.w_hi + 1) for a in range(self.a_lo, self.a_hi + 1)]
        self.pairs = sorted(pairs, key=lambda p: (abs(p[0] - p[1]), -(p[0] + p[1]), -p[0]))

    def current_pair(self) -> tuple[int, int]:
        """(weight QBN, activation QBN) of the current episode, before limits."""
        return self.pairs[self.episode % len(self.pairs)]

    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, float]:
        w, a = self.current_pair()
        return min(a, act_max), float(max(self.w_lo, min(w, int(np.floor(goal_max + 1e-9)))))

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        w = int(self._goals[i])
        return enforce_limits(np.full(self.spec.c_out[i], w), self.w_lo, w_max, bits_sum_max)


@AGENTS.register("random")
def _random(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    return RandomAgent(spec, config, seed)


@AGENTS.register("uniform")
def _uniform(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    return UniformAgent(spec, config, seed)
