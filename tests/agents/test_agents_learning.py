"""Learning on the synthetic task with a known optimum: small sizes, the paper's episode budget, three seeds.

The reward is relative to each task's exact kernel-wise optimum (1.0 = optimal, 0 = all 8 bits).
The paper-sized version of this comparison is ``benchmarks/agents_synthetic.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from autoq.agents import AgentConfig, create_agent
from autoq.tasks.synthetic import SyntheticTask

SEEDS = (0, 1, 2)
EPISODES = 400  # the paper's budget: 100 episodes at constant noise, then 300 of decay
TASK = dict(n_layers=2, channels=(8, 12))  # 3 layers, about 30 kernels
# the defaults, with networks sized to the task (64 units instead of 300)
CONFIG = AgentConfig(hidden=64)


def _run(name: str, seed: int) -> dict:
    task = SyntheticTask.make(seed=seed, **TASK)
    agent = create_agent(name, task.spec, CONFIG, seed=seed)
    rewards = [task.run_episode(agent).reward for _ in range(EPISODES)]
    opt = task.optimum("kernel").reward
    return {
        "greedy": task.run_episode(agent, explore=False).reward / opt,
        "mean": float(np.mean(rewards)) / opt,
        "layer": task.optimum("layer").reward / opt,
        "network": task.optimum("network").reward / opt,
    }


@pytest.fixture(scope="module")
def results() -> dict[str, list[dict]]:
    return {name: [_run(name, s) for s in SEEDS] for name in ("autoq", "ddpg-kernel", "random")}


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


@pytest.mark.slow
def test_the_task_rewards_kernel_wise_precision(results):
    """The optimum is well above the best layer-wise and network-wise configurations, and random search is far below."""
    rows = results["autoq"]
    assert _mean(rows, "layer") < 0.92
    assert _mean(rows, "network") < 0.75
    assert _mean(results["random"], "mean") < -0.5


@pytest.mark.slow
def test_agents_learn(results):
    """Both kernel-wise learners end far above random search; the hierarchical one reaches 60 % of the optimum."""
    random_level = _mean(results["random"], "mean")
    for name in ("autoq", "ddpg-kernel"):
        assert _mean(results[name], "greedy") > random_level + 1.0, name
    assert _mean(results["autoq"], "greedy") >= 0.6


@pytest.mark.slow
def test_hierarchical_agent_beats_flat_kernel_wise_ddpg(results):
    """One DDPG deciding every kernel learns less than the goal-conditioned hierarchy, on every seed."""
    assert _mean(results["autoq"], "greedy") > _mean(results["ddpg-kernel"], "greedy") + 0.03
    for hier, flat in zip(results["autoq"], results["ddpg-kernel"]):
        assert hier["greedy"] > flat["greedy"]


@pytest.mark.slow
def test_hierarchical_agent_is_near_optimal(results):
    """The target: within 5 % of the optimal reward."""
    assert _mean(results["autoq"], "greedy") >= 0.95
