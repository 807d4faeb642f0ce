"""The synthetic task: its closed-form optimum is exact, its budget mode holds, and agents learn on it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autoq.agents import AgentConfig, create_agent
from autoq.quant.discovery import LayerInfo
from autoq.tasks.synthetic import SyntheticTask


def _tiny(seed: int, acc_floor: float) -> SyntheticTask:
    """Two layers, three kernels in all: small enough to enumerate every configuration."""
    t = SyntheticTask.make(n_layers=1, channels=(2,), seed=seed, acc_floor=acc_floor)
    t.layers[1] = LayerInfo(1, "fc", "linear", 2, 1, (1, 1), (1, 1), (0, 0), 1, (1, 1), (1, 1), True)
    t.kernel_stats[1] = t.kernel_stats[1][:1]
    t.sensitivity[1] = t.sensitivity[1][:1] * 3.0
    t.w_range, t.a_range = (1, 6), (2, 5)  # fewer configurations to enumerate
    return t


def _brute_force(t: SyntheticTask, granularity: str) -> float:
    w, a = range(t.w_range[0], t.w_range[1] + 1), range(t.a_range[0], t.a_range[1] + 1)
    best = -np.inf
    if granularity == "kernel":
        for b in itertools.product(w, w, w, a, a):
            best = max(best, t.reward([np.array(b[:2]), np.array(b[2:3])], np.array(b[3:])))
    else:
        for b in itertools.product(w, w, a, a):
            best = max(best, t.reward([np.full(2, b[0]), np.array([b[1]])], np.array(b[2:])))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("acc_floor", [0.0, 0.1])
def test_optimum_matches_brute_force(seed: int, acc_floor: float):
    t = _tiny(seed, acc_floor)
    for granularity in ("kernel", "layer"):
        opt = t.optimum(granularity)
        assert opt.reward == pytest.approx(_brute_force(t, granularity), abs=1e-12)
        assert opt.reward == pytest.approx(t.reward(opt.w_bits, opt.a_bits))


def test_optimum_granularities_are_ordered():
    t = SyntheticTask.make(n_layers=4, seed=1)
    k, l, n = t.optimum("kernel"), t.optimum("layer"), t.optimum("network")
    assert k.reward > l.reward > n.reward > 0  # all beat the 8-bit reference (reward 0)
    assert all(len(set(b.tolist())) == 1 for b in l.w_bits)
    assert len({int(x) for b in n.w_bits for x in b}) == 1


def test_reward_reference_is_the_8_bit_network():
    t = SyntheticTask.make(n_layers=3, seed=2, acc_floor=0.0)
    w8 = [np.full(layer.c_out, 8) for layer in t.layers]
    a8 = np.full(len(t.layers), 8)
    assert t.cost_ratio(w8, a8) == pytest.approx(1.0)
    assert t.reward(w8, a8) == pytest.approx(-t.psi_acc * t.damage(w8, a8))


def test_budget_mode_keeps_every_episode_within_budget():
    t = SyntheticTask.make(n_layers=4, channels=(8, 16), seed=0, size_budget=0.3, psi_cost=0.0)
    for name in ("random", "autoq"):
        cfg = AgentConfig(hidden=16, batch_size=8, buffer_size=64, layer_updates_per_episode=2, kernel_updates_per_episode=2)
        agent = create_agent(name, t.spec, cfg, seed=0)
        for _ in range(5):
            r = t.run_episode(agent)
            assert t.weight_size_ratio(r.w_bits) <= 0.3 + 1e-12
    with pytest.raises(NotImplementedError):
        t.optimum()
