"""Every registered agent through the search's interface: limits, determinism, save/load, misuse."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq.agents import (
    AgentConfig,
    KernelLimits,
    NetworkSpec,
    action_to_bits,
    bits_to_action,
    create_agent,
    enforce_limits,
    list_agents,
)
from autoq.agents import observations as obs_mod
from autoq.errors import AutoQError
from autoq.tasks.synthetic import SyntheticTask

ALL = ["autoq", "hiro", "haq", "ddpg-kernel", "random", "uniform"]
SMALL = AgentConfig(
    hidden=16,
    batch_size=8,
    buffer_size=64,
    warmup_episodes=2,
    noise_decay=0.9,
    layer_updates_per_episode=2,
    kernel_updates_per_episode=2,
    kernel_samples_per_episode=16,
)


@pytest.fixture(scope="module")
def task() -> SyntheticTask:
    return SyntheticTask.make(n_layers=3, channels=(4, 6), seed=3)


@pytest.fixture(scope="module")
def budget_task() -> SyntheticTask:
    return SyntheticTask.make(n_layers=3, channels=(4, 6), seed=3, size_budget=0.35, psi_cost=0.0)


def _trace(agent, task: SyntheticTask, episodes: int) -> list:
    out = []
    for _ in range(episodes):
        r = task.run_episode(agent)
        out.append((r.reward, [b.tolist() for b in r.w_bits], r.a_bits.tolist()))
    return out


def test_registry_lists_every_agent():
    assert list_agents() == sorted(ALL)
    with pytest.raises(AutoQError, match="unknown agent"):
        create_agent("nope", SyntheticTask.make(n_layers=1).spec)


# action map and limits -----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(a=st.floats(0, 1), lo=st.integers(0, 4), n=st.integers(0, 8))
def test_action_map_is_monotone_and_in_range(a: float, lo: int, n: int):
    hi = lo + n
    b = action_to_bits(a, lo, hi)
    assert lo <= b <= hi
    assert action_to_bits(min(a + 0.05, 1.0), lo, hi) >= b
    assert action_to_bits(bits_to_action(b, lo, hi), lo, hi) == b


def test_action_map_bins_have_equal_width():
    a = np.linspace(0, 1, 8001)
    bits = [action_to_bits(x, 1, 8) for x in a]
    counts = np.bincount(bits)[1:]
    assert counts.min() >= 995 and counts.max() <= 1005


@settings(max_examples=300, deadline=None)
@given(
    desired=st.lists(st.integers(1, 8), min_size=1, max_size=20),
    w_max=st.integers(1, 8),
    slack=st.integers(0, 60),
    limited=st.booleans(),
)
def test_enforce_limits(desired: list[int], w_max: int, slack: int, limited: bool):
    n = len(desired)
    sum_max = n + slack if limited else None
    bits = enforce_limits(np.array(desired), 1, w_max, sum_max)
    assert bits.min() >= 1 and bits.max() <= w_max
    assert np.all(bits <= np.minimum(desired, w_max))
    if sum_max is not None:
        assert bits.sum() <= sum_max
    if sum_max is None or np.minimum(desired, w_max).sum() <= sum_max:
        np.testing.assert_array_equal(bits, np.minimum(desired, w_max))


# the network spec -------------------------------------------------------------------------------------
def test_spec_features_are_normalised(task: SyntheticTask):
    spec = task.spec
    assert spec.layer_features.shape == (len(task.layers), len(obs_mod.LAYER_STATIC))
    assert spec.layer_features.min() >= 0 and spec.layer_features.max() <= 1
    for f, layer in zip(spec.kernel_features, task.layers):
        assert f.shape == (layer.c_out, len(obs_mod.KERNEL_STATIC))
        assert f.min() >= 0 and f.max() <= 1
    net = np.concatenate(spec.kernel_features)[:, 1:4]
    assert np.allclose(net.min(0), 0) and np.allclose(net.max(0), 1)
    # within a layer, the kernel with the largest std has the largest layer-relative std feature
    stats = task.kernel_stats[0]
    assert spec.kernel_features[0][np.argmax(stats[:, 0]), 4] == pytest.approx(1.0)


def test_std_ratio_column_is_log2_of_the_std_over_the_layers_geometric_mean(task: SyntheticTask):
    col = obs_mod.KERNEL_STATIC.index("std_ratio")
    for f, stats in zip(task.spec.kernel_features, task.kernel_stats):
        std = stats[:, 0]
        expected = np.clip(0.5 + np.log2(std / np.exp(np.log(std).mean())) / obs_mod.SPREAD_SPAN, 0, 1)
        np.testing.assert_allclose(f[:, col], expected, atol=1e-6)


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_untrained_low_level_controller_spreads_the_goal_by_kernel_std(spread: float, task: SyntheticTask):
    """The goal prior alone: the layer meets its goal, each kernel at goal + spread * log2(std / geometric mean)."""
    agent = create_agent("autoq", task.spec, AgentConfig(hidden=16, spread_prior=spread), seed=0)
    agent.begin_episode(explore=False)
    for i, stats in enumerate(task.kernel_stats):
        agent.act_layer(i)
        goal = 4.0
        agent._goals[i] = goal
        bits = agent.act_kernels(i)
        assert abs(bits.mean() - goal) <= 0.5  # the needed mean absorbs the deviations
        std = stats[:, 0]
        if spread == 0:
            assert set(bits.tolist()) == {4}
        else:
            rel = np.log2(std / np.exp(np.log(std).mean()))
            assert np.corrcoef(bits, rel)[0, 1] > 0.5  # integer bits, clipped to the range
            assert bits[np.argmax(std)] > bits[np.argmin(std)]
    agent.end_episode(0.0)


def test_spec_rejects_bad_input(task: SyntheticTask):
    with pytest.raises(ValueError):
        NetworkSpec.from_layers(task.layers, task.kernel_stats[:-1])
    with pytest.raises(ValueError):
        NetworkSpec.from_layers(task.layers, [s[:, :2] for s in task.kernel_stats])
    with pytest.raises(AutoQError):
        NetworkSpec.from_layers(task.layers, task.kernel_stats, w_range=(4, 2))
    with pytest.raises(AutoQError):
        NetworkSpec.from_layers([], [])


def test_config_validation():
    with pytest.raises(AutoQError, match="zeta"):
        AgentConfig(zeta=1.5)
    with pytest.raises(AutoQError, match="buffer_size"):
        AgentConfig(buffer_size=10, batch_size=64)
    for field in ("spread_prior", "residual_penalty", "kernel_noise"):
        with pytest.raises(AutoQError, match=field):
            AgentConfig(**{field: -1.0})


# every agent -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_limits_are_respected(name: str, budget_task: SyntheticTask):
    """Budget limits (bit-sum per layer) and explicit caps hold for every kernel and activation."""
    agent = create_agent(name, budget_task.spec, SMALL, seed=1)
    for _ in range(4):
        r = budget_task.run_episode(agent)
        assert budget_task.weight_size_ratio(r.w_bits) <= 0.35 + 1e-9
        assert all(b.min() >= 1 and b.max() <= 8 for b in r.w_bits)
        assert r.a_bits.min() >= 2 and r.a_bits.max() <= 8
        assert all(isinstance(v, float) for v in r.info.values())
    # explicit caps, tighter than anything the agent would choose by itself
    spec = budget_task.spec
    agent.begin_episode()
    for i, n in enumerate(spec.c_out):
        a, goal = agent.act_layer(i, budget_left=0.5, act_max=3, goal_max=2.0)
        assert 2 <= a <= 3 and (goal is None or goal <= 2.0)
        bits = agent.act_kernels(i, KernelLimits(w_max=3, bits_sum_max=n + 2))
        assert bits.dtype == np.int64 and bits.shape == (n,)
        assert bits.min() >= 1 and bits.max() <= 3 and bits.sum() <= n + 2
    agent.end_episode(0.0)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_actions(name: str, task: SyntheticTask):
    a = _trace(create_agent(name, task.spec, SMALL, seed=7), task, 5)
    b = _trace(create_agent(name, task.spec, SMALL, seed=7), task, 5)
    assert a == b
    if name not in ("uniform",):
        c = _trace(create_agent(name, task.spec, SMALL, seed=8), task, 5)
        assert a != c


@pytest.mark.parametrize("name", ["autoq", "hiro"])
def test_controllers_learning_side_by_side_equals_one_after_the_other(name: str, task: SyntheticTask, monkeypatch):
    from autoq.utils import threads

    monkeypatch.setattr(threads, "_spare", 0)
    ordered = create_agent(name, task.spec, SMALL, seed=3)
    expected = _trace(ordered, task, 6)
    monkeypatch.setattr(threads, "_spare", 1)
    beside = create_agent(name, task.spec, SMALL, seed=3)
    assert _trace(beside, task, 6) == expected
    for net in ("high", "low"):
        for p, q in zip(getattr(ordered, net).critic.parameters(), getattr(beside, net).critic.parameters()):
            assert torch.equal(p, q)


@pytest.mark.parametrize("name", ALL)
def test_save_load_continue_equals_uninterrupted(name: str, task: SyntheticTask):
    full = create_agent(name, task.spec, SMALL, seed=5)
    expected = _trace(full, task, 7)

    first = create_agent(name, task.spec, SMALL, seed=5)
    _trace(first, task, 4)
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = create_agent(name, task.spec, SMALL, seed=123)  # the state, not the seed, decides
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert resumed.episode == 4
    assert _trace(resumed, task, 3) == expected[4:]


def test_state_is_checked_on_load(task: SyntheticTask):
    state = create_agent("haq", task.spec, SMALL).state_dict()
    with pytest.raises(AutoQError, match="saved agent is 'haq'"):
        create_agent("autoq", task.spec, SMALL).load_state_dict(state)
    other = SyntheticTask.make(n_layers=2, channels=(4,), seed=0)
    with pytest.raises(AutoQError, match="other layers"):
        create_agent("haq", other.spec, SMALL).load_state_dict(state)


def test_hiro_is_autoq_with_zeta_zero(task: SyntheticTask):
    hiro = create_agent("hiro", task.spec, AgentConfig(zeta=0.7))
    autoq = create_agent("autoq", task.spec, AgentConfig(zeta=0.7))
    assert (hiro.name, hiro.config.zeta) == ("hiro", 0.0)
    assert (autoq.name, autoq.config.zeta, autoq.low.ext_weight) == ("autoq", 0.7, 0.7)


def test_call_order_is_enforced(task: SyntheticTask):
    agent = create_agent("autoq", task.spec, SMALL)
    with pytest.raises(RuntimeError):
        agent.act_layer(0)
    agent.begin_episode()
    with pytest.raises(RuntimeError):
        agent.act_kernels(0)
    with pytest.raises(RuntimeError):
        agent.act_layer(1)
    agent.act_layer(0)
    with pytest.raises(RuntimeError):
        agent.state_dict()
    with pytest.raises(RuntimeError):
        agent.end_episode(0.0)


def test_unreachable_limits_are_reported(task: SyntheticTask):
    agent = create_agent("random", task.spec, SMALL)
    agent.begin_episode()
    with pytest.raises(AutoQError, match="activations"):
        agent.act_layer(0, act_max=1)
    agent.act_layer(0)
    n = task.spec.c_out[0]
    with pytest.raises(AutoQError, match="budget leaves"):
        agent.act_kernels(0, KernelLimits(bits_sum_max=n - 1))


def test_greedy_episode_does_not_learn(task: SyntheticTask):
    agent = create_agent("autoq", task.spec, SMALL, seed=0)
    _trace(agent, task, 3)
    before = agent.state_dict()
    g1 = task.run_episode(agent, explore=False)
    assert g1.info["noise"] == 0.0 and agent.episode == 3
    assert len(agent.high.buffer) == len(before["agent"]["high"]["buffer"]["obs"])


def _lowered_episode(agent, spec) -> list[int]:
    """One exploring episode whose bits the search then lowers to 1 (weights) and 2 (activations); the chosen activation QBNs."""
    agent.begin_episode()
    w, a = [], []
    for i in range(spec.n_layers):
        a.append(agent.act_layer(i).act_bits)
        w.append(agent.act_kernels(i))
    agent.end_episode(-1.0, [np.ones_like(b) for b in w], [2] * spec.n_layers)
    return a


@pytest.mark.parametrize("joint", [False, True])
def test_stored_actions_after_the_search_lowered_the_bits(task: SyntheticTask, joint: bool):
    """Kernels store the bits applied. HAQ's high-level scheme stores the activation QBNs applied, the
    joint critic the decisions as made; with relabel both store the goals achieved."""
    spec = task.spec
    config = AgentConfig(
        relabel=True,
        joint_critic=joint,
        **{k: getattr(SMALL, k) for k in ("hidden", "batch_size", "buffer_size", "kernel_samples_per_episode")},
    )
    agent = create_agent("autoq", spec, config, seed=0)
    chosen = _lowered_episode(agent, spec)
    lo_actions = agent.low.buffer.actions[: len(agent.low.buffer), 0]
    assert {action_to_bits(float(x), 1, 8) for x in lo_actions} == {1}
    hi_actions = agent.high.buffer.actions[: spec.n_layers]
    assert [action_to_bits(float(x), 2, 8) for x in hi_actions[:, 0]] == (chosen if joint else [2] * spec.n_layers)
    assert chosen != [2] * spec.n_layers  # the seed's episode did choose more than 2 bits somewhere
    assert np.allclose(hi_actions[:, 1], 0.0)  # achieved mean 1 bit = bottom of the goal range


def test_joint_critic_sees_one_decision_from_every_layer_step(task: SyntheticTask):
    """Joint critic: terminal layer steps, each with the other layers' decisions and its own slot; the
    critic's input puts the step's action into that slot, so all steps of an episode show the same
    vector. Activation decisions are stored as the centres of their QBNs' bins."""
    spec = task.spec
    n = spec.n_layers
    agent = create_agent("autoq", spec, SMALL, seed=0)
    result = task.run_episode(agent)
    buf = agent.high.buffer
    np.testing.assert_allclose(buf.actions[:n, 0], bits_to_action(result.a_bits.astype(np.float64), 2, 8), rtol=1e-6)
    assert buf.dones[:n, 0].tolist() == [1.0] * n
    assert buf.context.shape[1] == 3 * n
    np.testing.assert_array_equal(buf.context[:n, 2 * n :], np.eye(n))
    for i in range(n):
        assert np.allclose(buf.context[i, : 2 * n].reshape(n, 2)[i], 0.0)
    s = buf.gather(np.arange(n))
    joint = agent.high.critic_input(s.obs, s.context, s.actions).numpy()
    np.testing.assert_allclose(joint, np.repeat(buf.actions[:n].reshape(1, -1), n, 0), rtol=1e-6)
    # the actor's action goes into the same slot: changing it changes only that layer's entries
    moved = agent.high.critic_input(s.obs, s.context, torch.full_like(s.actions, 0.25)).numpy().reshape(n, n, 2)
    for i in range(n):
        np.testing.assert_allclose(moved[i, i], [0.25, 0.25])
        np.testing.assert_allclose(np.delete(moved[i], i, 0), np.delete(buf.actions[:n], i, 0), rtol=1e-6)


def test_haq_scheme_without_the_joint_critic(task: SyntheticTask):
    """``joint_critic=False``: layer steps bootstrap from the next one, the last is terminal, no context."""
    agent = create_agent("autoq", task.spec, dataclasses.replace(SMALL, joint_critic=False), seed=0)
    task.run_episode(agent)
    n = task.spec.n_layers
    assert agent.high.buffer.context.shape[1] == 0
    assert agent.high.buffer.dones[:n, 0].tolist() == [0.0] * (n - 1) + [1.0]


def test_uniform_sweeps_network_wise_pairs(task: SyntheticTask):
    agent = create_agent("uniform", task.spec)
    seen = []
    for _ in range(9):
        r = task.run_episode(agent)
        ws = {int(x) for b in r.w_bits for x in b}
        assert len(ws) == 1 and len(set(r.a_bits.tolist())) == 1
        seen.append((ws.pop(), int(r.a_bits[0])))
    assert seen[:7] == [(8, 8), (7, 7), (6, 6), (5, 5), (4, 4), (3, 3), (2, 2)]
    assert len(set(seen)) == 9


@pytest.mark.parametrize("name", ["autoq", "ddpg-kernel"])
def test_kernel_loop_matches_the_torch_actor(name: str, task: SyntheticTask):
    """The incremental NumPy kernel loop acts exactly as the torch actor on the observations it records."""
    agent = create_agent(name, task.spec, SMALL, seed=2)
    _trace(agent, task, 3)  # some updates, so the actor is not at its initial weights
    agent.begin_episode(explore=False)
    learner = agent.low if name == "autoq" else agent.ddpg
    for i in range(task.spec.n_layers):
        agent.act_layer(i)
        bits = agent.act_kernels(i)
        obs = (agent._low_obs if name == "autoq" else agent._k_obs)[i]
        with torch.no_grad():
            a = learner.actor(torch.from_numpy(obs)).numpy()[:, 0]
        np.testing.assert_allclose((agent._low_actions if name == "autoq" else agent._k_actions)[i], a, atol=1e-5)
        assert [action_to_bits(float(x), 1, 8) for x in a] == bits.tolist()
    agent.end_episode(0.0)
