"""One episode of decisions: the agent picks bits layer by layer, inside the budget's limits.

:func:`rollout` is the one episode driver: the search scores its policy on the quantized network and
the cost model, the synthetic tasks (:mod:`autoq.tasks.synthetic`, :mod:`autoq.tasks.measured`) with
their own formulas; a budget, whatever it measures, is a :class:`~autoq.search.budget.BudgetTracker`
built on that metric's layer-cost function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from autoq.agents import KernelLimits
from autoq.quant import LayerInfo, Policy
from autoq.search.budget import BudgetTracker, lowering_sweep


@dataclass
class SearchSpace:
    """Which layers the agent decides and the bit ranges; pinned layers keep fixed bits."""

    layers: list[LayerInfo]
    w_range: tuple[int, int]
    a_range: tuple[int, int]
    pinned: dict[int, int]  # layer index -> bits for weights and activations

    @property
    def searchable(self) -> list[int]:
        """Indices of the layers the agent decides (its layer ``k`` is ``layers[searchable[k]]``)."""
        return [i for i in range(len(self.layers)) if i not in self.pinned]

    @property
    def searchable_layers(self) -> list[LayerInfo]:
        """The layers the agent decides, in its order: the view of a policy that the agent sees."""
        return [self.layers[i] for i in self.searchable]

    def minimum(self) -> tuple[list[int], list[int]]:
        """Smallest weight and activation bits of every layer."""
        w = [self.pinned.get(i, self.w_range[0]) for i in range(len(self.layers))]
        a = [self.pinned.get(i, self.a_range[0]) for i in range(len(self.layers))]
        return w, a

    def policy(self, w_bits: list[np.ndarray], a_bits: list[int]) -> Policy:
        """The policy of every layer's bits, given in layer order."""
        return Policy.from_lists(self.layers, w_bits, a_bits)


@dataclass
class Decision:
    """An episode's policy, what the budget changed in it, and the time the agent and the budget took."""

    policy: Policy
    lowered: int  # bit decrements of the final sweep (a safety net: 0 when every layer was fitted)
    trimmed: int  # bit decrements the exact per-layer check took from choices that overshot their layer's room
    agent_s: float
    budget_s: float


def rollout(
    agent, space: SearchSpace, tracker: BudgetTracker | None = None, explore: bool = True, demonstration: Policy | None = None
) -> Decision:
    """Ask ``agent`` for every searchable layer's bits; with a budget, limit each action, fit each layer
    exactly (:meth:`BudgetTracker.fit`) and, as a safety net, sweep at the end.

    ``tracker`` carries the budgeted metric's layer-cost function and limit (None: no budget);
    ``explore=False`` gives the agent's greedy episode; ``demonstration`` a policy the agent plays
    (and learns from) in place of its own choices, within the same limits (a warm start).
    """
    n = len(space.layers)
    w_bits: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * n
    a_bits = [0] * n
    agent_s = budget_s = 0.0
    w_lo, w_hi = space.w_range
    a_hi = space.a_range[1]
    if tracker is not None:
        tracker.reset()
    t0 = time.perf_counter()
    if demonstration is not None:
        layers = space.searchable_layers
        agent.begin_episode(explore, demonstration=(demonstration.weight_list(layers), demonstration.act_list(layers)))
    else:
        agent.begin_episode(explore)
    agent_s += time.perf_counter() - t0
    k = 0  # index among searchable layers
    trimmed = 0
    for i, layer in enumerate(space.layers):
        if i in space.pinned:
            w_bits[i], a_bits[i] = np.full(layer.c_out, space.pinned[i], dtype=np.int64), space.pinned[i]
        else:
            t0 = time.perf_counter()
            if tracker is not None:
                act_max = tracker.act_max(i, a_hi)
                _, sum_at_min_act = tracker.weight_limits(i, space.a_range[0], w_hi)
                goal_max, left = sum_at_min_act / layer.c_out, tracker.fraction_left()
            else:
                act_max, goal_max, left = a_hi, float(w_hi), None
            t1 = time.perf_counter()
            a, _goal = agent.act_layer(k, budget_left=left, act_max=act_max, goal_max=goal_max)
            t2 = time.perf_counter()
            limits = KernelLimits(w_max=w_hi, bits_sum_max=None)
            if tracker is not None:
                top, total = tracker.weight_limits(i, a, w_hi)
                limits = KernelLimits(w_max=top, bits_sum_max=total)
            t3 = time.perf_counter()
            w = np.asarray(agent.act_kernels(k, limits), dtype=np.int64)
            t4 = time.perf_counter()
            if tracker is not None:
                w, a, steps = tracker.fit(i, w, int(a))
                trimmed += steps
            w_bits[i], a_bits[i] = w, int(a)
            agent_s += (t2 - t1) + (t4 - t3)
            budget_s += (t1 - t0) + (t3 - t2) + (time.perf_counter() - t4)
            k += 1
        if tracker is not None:
            t0 = time.perf_counter()
            tracker.commit(i, w_bits[i], a_bits[i])
            budget_s += time.perf_counter() - t0
    lowered = 0
    if tracker is not None:
        t0 = time.perf_counter()
        w_min, a_min = space.minimum()
        lowered = lowering_sweep(tracker.layer_cost, w_bits, a_bits, tracker.limit, w_min, a_min, tracker.fixed)
        budget_s += time.perf_counter() - t0
    return Decision(space.policy(w_bits, a_bits), lowered, trimmed, agent_s, budget_s)
