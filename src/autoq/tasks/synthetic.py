"""A synthetic quantization task with a closed-form reward and a known optimum, for testing agents.

No neural network is run. Each kernel k of layer L has weight statistics (std, mean |w|, max |w|)
drawn at random, and a sensitivity that follows from them: ``s = lambda_L * (std / median std of
L) ** sensitivity_power``, with a random per-layer factor ``lambda_L``; each layer also has a random
activation sensitivity ``t_L``. A b-bit quantizer's noise power scales as ``4 ** -b``, so

    damage = sum_L [ sum_k s_Lk * 4 ** -b_Lk  +  t_L * 4 ** -a_L ]
    acc    = acc_ref * (floor + (1 - floor) * exp(-damage))     (floor: chance level, relative)
    cost   = sum_L a_L * macs_per_kernel_L * sum_k b_Lk      (bit-serial: cycles ~ weight x activation bits)
    reward = psi_acc * log(acc / acc_ref) - psi_cost * log(cost / cost_ref)

with ``cost_ref`` the cost at 8 / 8 bits: the search's accuracy-mode reward (docs/search.md). Everything an
optimal agent needs is in its observations (layer shapes, kernel statistics, layer index), so the
optimum is learnable. It is known exactly: log(acc) is convex in the damage and -log(cost) is
convex in the cost, so an optimum b* also maximises the tangent objective ``-damage - lam * cost``
with ``lam = (psi_cost / cost*) / (psi_acc * |d log acc / d damage| at b*)`` (if some b beat b* on
the tangent objective, the convexity bounds would make it beat b* on the reward). That objective is
separable: layer by layer, for each activation QBN, every kernel independently.
:meth:`SyntheticTask.optimum` sweeps ``lam`` and refines it by that fixed point; tests check it
against brute force on tiny tasks.

:meth:`SyntheticTask.run_episode` drives the agent with the search's own episode driver
(:func:`~autoq.search.rollout.rollout`); with ``size_budget`` (a fraction of the 8-bit weight size)
the budget is the search's too, a :class:`~autoq.search.budget.BudgetTracker` on the layers' weight
size: each layer gets the largest bit sum that still lets the remaining layers meet the budget at
the minimum QBN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from autoq.agents.base import Agent
from autoq.agents.spec import NetworkSpec
from autoq.quant.discovery import LayerInfo
from autoq.search.budget import BudgetTracker
from autoq.search.rollout import SearchSpace, rollout


class Solution(NamedTuple):
    """A bit configuration and its reward."""

    reward: float
    w_bits: list[np.ndarray]
    a_bits: np.ndarray


class EpisodeResult(NamedTuple):
    """What :meth:`SyntheticTask.run_episode` returns: the reward, the bits applied and the agent's log."""

    reward: float
    w_bits: list[np.ndarray]
    a_bits: np.ndarray
    info: dict


def play_episode(
    agent: Agent,
    space: SearchSpace,
    tracker: BudgetTracker | None,
    reward: Callable[[list[np.ndarray], np.ndarray], float],
    explore: bool = True,
) -> EpisodeResult:
    """One episode of a task: :func:`rollout` decides the bits, ``reward(w_bits, a_bits)`` scores them, the agent learns."""
    decision = rollout(agent, space, tracker, explore)
    w_bits = decision.policy.weight_list(space.searchable_layers)
    a_bits = np.array(decision.policy.act_list(space.searchable_layers), np.int64)
    r = reward(w_bits, a_bits)
    info = agent.end_episode(r, w_bits, a_bits)
    return EpisodeResult(r, w_bits, a_bits, info)


@dataclass
class SyntheticTask:
    """Layers, kernel statistics, sensitivities and costs of a synthetic network (see the module doc)."""

    layers: list[LayerInfo]
    kernel_stats: list[np.ndarray]
    sensitivity: list[np.ndarray]  # per layer [c_out]: weight damage coefficient s_Lk
    act_sensitivity: np.ndarray  # [L]: activation damage coefficient t_L
    w_range: tuple[int, int] = (1, 8)
    a_range: tuple[int, int] = (2, 8)
    psi_acc: float = 2.0
    psi_cost: float = 0.5
    acc_floor: float = 0.0  # accuracy at infinite damage, relative to acc_ref (e.g. chance level)
    size_budget: float | None = None  # fraction of the 8-bit weight size; None = no budget
    _spec: NetworkSpec | None = field(default=None, repr=False)

    # construction -----------------------------------------------------------------------------
    @classmethod
    def make(
        cls,
        n_layers: int = 8,
        channels: tuple[int, ...] = (8, 16, 24, 32),
        seed: int = 0,
        std_spread: float = 0.6,
        sensitivity_power: float = 3.0,
        layer_sensitivity: tuple[float, float] = (0.1, 2.0),
        act_sensitivity: tuple[float, float] = (0.1, 1.0),
        psi_acc: float = 2.0,
        psi_cost: float = 0.5,
        acc_floor: float = 0.0,
        size_budget: float | None = None,
    ) -> SyntheticTask:
        """Random task: ``n_layers`` conv layers (3x3 or 1x1, widths from ``channels``) then a linear layer.

        ``std_spread``: log-std of the kernel std within a layer; with ``sensitivity_power`` it sets
        how much kernels of one layer differ (what kernel-wise quantization gains over layer-wise).
        ``layer_sensitivity`` / ``act_sensitivity``: log-uniform ranges of the per-layer factors,
        as total damage of the layer at 1 bit (weights) or 2 bits (activations) per kernel.
        """
        rng = np.random.default_rng(seed)
        layers, stats, sens = [], [], []
        c_in, hw = 3, 32
        for i in range(n_layers + 1):
            last = i == n_layers
            c_out = 10 if last else int(rng.choice(channels))
            k = 1 if last else int(rng.choice([1, 3, 3]))
            stride = 2 if (not last and i > 0 and hw > 4 and rng.random() < 0.3) else 1
            out_hw = hw // stride
            if last:
                layer = LayerInfo(i, "fc", "linear", c_in, c_out, (1, 1), (1, 1), (0, 0), 1, (1, 1), (1, 1), True)
            else:
                layer = LayerInfo(
                    i,
                    f"conv{i}",
                    "conv",
                    c_in,
                    c_out,
                    (k, k),
                    (stride, stride),
                    (k // 2, k // 2),
                    1,
                    (hw, hw),
                    (out_hw, out_hw),
                    False,
                )
            layers.append(layer)
            sigma = math.sqrt(2.0 / layer.kernel_numel) * rng.uniform(0.5, 1.5)
            std = sigma * np.exp(std_spread * rng.standard_normal(c_out))
            stats.append(np.stack([std, std * rng.uniform(0.76, 0.82, c_out), std * rng.uniform(2.5, 4.5, c_out)], 1))
            rel = (std / np.median(std)) ** sensitivity_power
            lam = math.exp(rng.uniform(*np.log(layer_sensitivity)))
            sens.append(lam * rel / rel.sum() * 4.0)  # layer total = lam at 1 bit (4 ** -1 = 1/4)
            c_in, hw = c_out, (1 if last else out_hw)
        t = np.exp(rng.uniform(*np.log(act_sensitivity), n_layers + 1)) * 16.0  # t * 4 ** -2 = drawn value
        return cls(layers, stats, sens, t, psi_acc=psi_acc, psi_cost=psi_cost, acc_floor=acc_floor, size_budget=size_budget)

    @property
    def spec(self) -> NetworkSpec:
        """The agents' view of the task (built once)."""
        if self._spec is None:
            self._spec = NetworkSpec.from_layers(self.layers, self.kernel_stats, self.w_range, self.a_range)
        return self._spec

    # closed-form reward ------------------------------------------------------------------------
    def _macs_per_kernel(self) -> np.ndarray:
        return np.array([layer.kernel_numel * layer.out_hw[0] * layer.out_hw[1] for layer in self.layers], np.float64)

    def cost_ref(self) -> float:
        return float(sum(m * layer.c_out * 64.0 for m, layer in zip(self._macs_per_kernel(), self.layers)))

    def damage(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        d = sum(float(np.dot(s, 4.0 ** -np.asarray(b, np.float64))) for s, b in zip(self.sensitivity, w_bits))
        return d + float(np.dot(self.act_sensitivity, 4.0 ** -np.asarray(a_bits, np.float64)))

    def cost_ratio(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        m = self._macs_per_kernel()
        c = sum(m[i] * float(a_bits[i]) * float(np.sum(w_bits[i])) for i in range(len(self.layers)))
        return c / self.cost_ref()

    def reward(self, w_bits: list[np.ndarray], a_bits: np.ndarray) -> float:
        """``psi_acc * log(acc / acc_ref) - psi_cost * log(cost / cost_ref)``."""
        acc = self.acc_floor + (1.0 - self.acc_floor) * math.exp(-self.damage(w_bits, a_bits))
        return self.psi_acc * math.log(acc) - self.psi_cost * math.log(self.cost_ratio(w_bits, a_bits))

    # the known optimum -------------------------------------------------------------------------
    def _tangent_solution(self, lam: float, granularity: str) -> tuple[list[np.ndarray], np.ndarray]:
        """Maximiser of ``-damage - lam * cost / cost_ref``, layer by layer."""
        wb = np.arange(self.w_range[0], self.w_range[1] + 1, dtype=np.float64)
        ab = np.arange(self.a_range[0], self.a_range[1] + 1, dtype=np.float64)
        m = self._macs_per_kernel() * lam / self.cost_ref()
        w_out, a_out = [], np.zeros(len(self.layers), np.int64)
        for i, s in enumerate(self.sensitivity):
            # value[a, k, b] of kernel k at weight bits b when the layer's activations have a bits
            value = -s[None, :, None] * 4.0 ** -wb[None, None, :] - m[i] * ab[:, None, None] * wb[None, None, :]
            if granularity == "kernel":
                best_b = value.argmax(2)  # [a, k]
                total = np.take_along_axis(value, best_b[:, :, None], 2)[:, :, 0].sum(1)
            else:  # one weight QBN for the whole layer
                per_b = value.sum(1)  # [a, b]
                best_b = np.repeat(per_b.argmax(1)[:, None], len(s), 1)
                total = per_b.max(1)
            total = total - self.act_sensitivity[i] * 4.0**-ab
            ai = int(total.argmax())
            a_out[i] = int(ab[ai])
            w_out.append(wb[best_b[ai]].astype(np.int64))
        return w_out, a_out

    def _tangent_lam(self, sol: Solution) -> float:
        """The tangent weight of the cost at ``sol`` (see the module doc)."""
        e = math.exp(-self.damage(sol.w_bits, sol.a_bits))
        slope = (1.0 - self.acc_floor) * e / (self.acc_floor + (1.0 - self.acc_floor) * e)
        return (self.psi_cost / self.cost_ratio(sol.w_bits, sol.a_bits)) / max(self.psi_acc * slope, 1e-300)

    def optimum(self, granularity: str = "kernel") -> Solution:
        """Best reward with one QBN per kernel (``kernel``), per layer (``layer``) or network (``network``)."""
        if self.size_budget is not None:
            raise NotImplementedError("the optimum is known in closed form only without a size budget")
        if granularity == "network":
            best = None
            for w in range(self.w_range[0], self.w_range[1] + 1):
                for a in range(self.a_range[0], self.a_range[1] + 1):
                    wb = [np.full(layer.c_out, w, np.int64) for layer in self.layers]
                    ab = np.full(len(self.layers), a, np.int64)
                    r = self.reward(wb, ab)
                    if best is None or r > best.reward:
                        best = Solution(r, wb, ab)
            return best
        if granularity not in ("kernel", "layer"):
            raise ValueError(f"granularity must be kernel, layer or network, not {granularity!r}")
        ratio = self.psi_cost / max(self.psi_acc, 1e-300)
        lams = [0.0, math.inf] + list(np.geomspace(max(ratio, 1e-6) * 0.25, max(ratio, 1e-6) * 1e5, 1500))
        best: Solution | None = None
        for lam in lams:
            wb, ab = self._tangent_solution(min(lam, 1e300), granularity)
            r = self.reward(wb, ab)
            if best is None or r > best.reward:
                best = Solution(r, wb, ab)
        for _ in range(50):  # refine: the optimum is the tangent solution at its own lam
            wb, ab = self._tangent_solution(self._tangent_lam(best), granularity)
            r = self.reward(wb, ab)
            if r <= best.reward + 1e-12:
                break
            best = Solution(r, wb, ab)
        return best

    # driving an agent --------------------------------------------------------------------------
    def layer_size(self, i: int, w_bits: np.ndarray, a_bits: int) -> float:
        """Layer ``i``'s weight size in bits: the size budget's layer cost."""
        return float(np.sum(w_bits)) * self.layers[i].kernel_numel

    def budget_tracker(self) -> BudgetTracker | None:
        """The size budget as the search keeps it (None without one)."""
        if self.size_budget is None:
            return None
        limit = self.size_budget * float(sum(layer.kernel_numel * layer.c_out for layer in self.layers) * 8)
        n = len(self.layers)
        return BudgetTracker(self.layer_size, [l.c_out for l in self.layers], limit, [self.w_range[0]] * n, [self.a_range[0]] * n)

    def run_episode(self, agent: Agent, explore: bool = True) -> EpisodeResult:
        """One episode through the search's driver (:func:`~autoq.search.rollout.rollout`), with its budget limits."""
        space = SearchSpace(self.layers, self.w_range, self.a_range, pinned={})
        return play_episode(agent, space, self.budget_tracker(), self.reward, explore)

    def weight_size_ratio(self, w_bits: list[np.ndarray]) -> float:
        """Weight size relative to the 8-bit model."""
        numel = [layer.kernel_numel for layer in self.layers]
        return sum(k * float(np.sum(b)) for k, b in zip(numel, w_bits)) / sum(
            k * layer.c_out * 8.0 for k, layer in zip(numel, self.layers)
        )
