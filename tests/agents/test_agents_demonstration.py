"""Demonstration episodes (the warm start): the agent plays the given bits within the limits and learns from them."""

from __future__ import annotations

import numpy as np
import pytest

from autoq.agents import AgentConfig, bits_to_action, create_agent
from autoq.errors import AutoQError
from autoq.quant import Policy
from autoq.search.rollout import SearchSpace, rollout
from autoq.tasks.synthetic import SyntheticTask

SMALL = AgentConfig(hidden=16, batch_size=8, buffer_size=64, warmup_episodes=2, kernel_samples_per_episode=None)


@pytest.fixture(scope="module")
def task() -> SyntheticTask:
    return SyntheticTask.make(n_layers=3, channels=(4, 6), seed=3)


def _demo(task: SyntheticTask, seed: int = 0) -> Policy:
    rng = np.random.default_rng(seed)
    w = [rng.integers(task.w_range[0], task.w_range[1] + 1, layer.c_out) for layer in task.layers]
    a = [int(rng.integers(task.a_range[0], task.a_range[1] + 1)) for _ in task.layers]
    return Policy.from_lists(task.layers, w, a)


@pytest.mark.parametrize("name", ["autoq", "hiro", "ddpg-kernel"])
def test_kernel_wise_agents_play_the_demonstration_and_store_its_actions(task, name):
    agent = create_agent(name, task.spec, SMALL, seed=0)
    space = SearchSpace(task.layers, task.w_range, task.a_range, pinned={})
    demo = _demo(task)
    decision = rollout(agent, space, None, demonstration=demo)
    assert decision.policy == demo
    agent.end_episode(-1.0)
    # the stored kernel actions are the centres of the demonstration's bins, kernel by kernel
    kernels = bits_to_action(np.concatenate(demo.weight_list(task.layers)), agent.w_lo, agent.w_map_hi)
    if name == "ddpg-kernel":  # one activation step per layer first, then the kernels
        stored = agent.ddpg.buffer.actions[len(task.layers) : len(agent.ddpg.buffer), 0]
    else:
        stored = agent.low.buffer.actions[: len(agent.low.buffer), 0]
    assert np.allclose(stored, kernels)
    # the next episode is the agent's own again
    own = rollout(agent, space, None)
    assert own.policy != demo


def test_the_layer_wise_agent_plays_each_layers_mean_width(task):
    agent = create_agent("haq", task.spec, SMALL, seed=0)
    space = SearchSpace(task.layers, task.w_range, task.a_range, pinned={})
    demo = _demo(task)
    decision = rollout(agent, space, None, demonstration=demo)
    for layer in task.layers:
        w = decision.policy.weight_bits[layer.name]
        assert set(w.tolist()) == {int(round(float(demo.weight_bits[layer.name].mean())))}
        assert decision.policy.act_bits[layer.name] == demo.act_bits[layer.name]


def test_a_demonstration_stays_within_the_budget_limits(task):
    tight = SyntheticTask.make(n_layers=3, channels=(4, 6), seed=3, size_budget=0.35, psi_cost=0.0)
    agent = create_agent("autoq", tight.spec, SMALL, seed=0)
    space = SearchSpace(tight.layers, tight.w_range, tight.a_range, pinned={})
    top = Policy.uniform(tight.layers, tight.w_range[1], tight.a_range[1])  # far over the budget
    decision = rollout(agent, space, tight.budget_tracker(), demonstration=top)
    tracker = tight.budget_tracker()
    total = sum(
        tracker.layer_cost(i, w, a)
        for i, (w, a) in enumerate(zip(decision.policy.weight_list(tight.layers), decision.policy.act_list(tight.layers)))
    )
    assert total <= tracker.limit * (1 + 1e-9)


@pytest.mark.parametrize("name", ["random", "uniform"])
def test_agents_that_do_not_learn_refuse_a_demonstration(task, name):
    agent = create_agent(name, task.spec, SMALL, seed=0)
    space = SearchSpace(task.layers, task.w_range, task.a_range, pinned={})
    with pytest.raises(AutoQError, match="does not learn from demonstrations"):
        rollout(agent, space, None, demonstration=_demo(task))
