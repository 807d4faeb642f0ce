"""The measured task: reward from the tables, budget kept by every episode, exact optimum (against brute force)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from autoq.agents import AgentConfig, create_agent
from autoq.errors import AutoQError
from autoq.quant.discovery import LayerInfo
from autoq.tasks.measured import MeasuredTask


def _task(c_out=(2, 3), budget=0.5, seed=0) -> MeasuredTask:
    rng = np.random.default_rng(seed)
    layers, stats, dw = [], [], []
    for i, c in enumerate(c_out):
        layers.append(LayerInfo(i, f"conv{i}", "conv", 3, c, (3, 3), (1, 1), (1, 1), 1, (8, 8), (8, 8), False))
        stats.append(np.abs(rng.normal(1, 0.3, (c, 3))))
        # damage falls with the bits, at a random rate per kernel (no formula of the stats)
        dw.append(np.exp(rng.normal(0, 1, (c, 1))) * 4.0 ** -np.arange(1, 9)[None, :])
    da = np.exp(rng.normal(-1, 1, (len(c_out), 1))) * 4.0 ** -np.arange(2, 9)[None, :] * 8
    a = np.arange(2, 9, dtype=float)
    lat_a = np.tile(1e-4 * a, (len(c_out), 1))
    lat_b = np.tile(1e-5 * a, (len(c_out), 1))
    return MeasuredTask(layers, stats, dw, da, lat_a, lat_b, budget)


def test_reward_is_minus_the_summed_table_entries():
    t = _task()
    w = [np.array([1, 8]), np.array([2, 3, 4])]
    a = np.array([2, 8])
    expected = t.damage_w[0][0, 0] + t.damage_w[0][1, 7] + t.damage_w[1][0, 1] + t.damage_w[1][1, 2] + t.damage_w[1][2, 3]
    expected += t.damage_a[0, 0] + t.damage_a[1, 6]
    assert t.reward(w, a) == pytest.approx(-expected)
    assert t.latency([np.full(2, 8), np.full(3, 8)], np.array([8, 8])) == pytest.approx(t.latency_ref())


def test_optimum_equals_brute_force_and_beats_layerwise():
    t = _task(c_out=(1, 2), budget=0.45)
    best = -np.inf
    for a0, a1 in itertools.product(range(2, 9), repeat=2):
        for bits in itertools.product(range(1, 9), repeat=3):
            w = [np.array(bits[:1]), np.array(bits[1:])]
            if t.latency(w, np.array([a0, a1])) <= t.limit():
                best = max(best, t.reward(w, np.array([a0, a1])))
    sol = t.optimum("kernel")
    assert sol.reward == pytest.approx(best, rel=1e-6)
    assert t.latency(sol.w_bits, sol.a_bits) <= t.limit() * (1 + 1e-9)
    layer = t.optimum("layer")
    assert layer.reward <= sol.reward + 1e-12
    assert all(len(set(b.tolist())) == 1 for b in layer.w_bits)


@pytest.mark.parametrize("name", ["autoq", "hiro", "haq", "random"])
def test_every_episode_stays_within_the_latency_budget(name: str):
    t = _task(c_out=(4, 6, 5), budget=0.4)
    agent = create_agent(name, t.spec, AgentConfig(hidden=8, batch_size=4, buffer_size=64, warmup_episodes=1), seed=1)
    best = t.optimum().reward
    for _ in range(4):
        r = t.run_episode(agent)
        assert t.latency(r.w_bits, r.a_bits) <= t.limit() * (1 + 1e-9)
        assert r.reward == pytest.approx(t.reward(r.w_bits, r.a_bits))
        assert r.reward <= best + 1e-12  # nothing beats the optimum


def test_load_round_trips_a_table_and_refuses_a_missing_one(tmp_path):
    t = _task()
    path = tmp_path / "damage_x.npz"
    np.savez(
        path,
        layers=json.dumps([layer.__dict__ for layer in t.layers]),
        c_out=np.array([2, 3]),
        damage_w=np.concatenate(t.damage_w),
        damage_a=t.damage_a,
        kernel_stats=np.concatenate(t.kernel_stats),
        lat_A=t.lat_a,
        lat_B=t.lat_b,
    )
    u = MeasuredTask.load(path, budget=0.5)
    w, a = [np.array([3, 4]), np.array([5, 6, 7])], np.array([4, 5])
    assert u.reward(w, a) == pytest.approx(t.reward(w, a)) and u.layers == t.layers
    with pytest.raises(AutoQError, match="measure_damage.py"):
        MeasuredTask.load(tmp_path / "none.npz")
