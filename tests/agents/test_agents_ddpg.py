"""DDPG building blocks: replay buffer, noise, actor mirror, and that the update rule learns."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq.agents.buffers import ReplayBuffer, ReplaySamples
from autoq.agents.ddpg import DDPG
from autoq.agents.noise import NoiseSchedule, truncated_normal


def _ddpg(obs_dim: int = 3, act_dim: int = 1, seed: int = 0, **kw) -> DDPG:
    args = dict(hidden=32, actor_lr=1e-3, critic_lr=1e-2, tau=0.05, discount=0.0, batch_size=32, buffer_size=256)
    args.update(kw)
    return DDPG(obs_dim, act_dim, rng=np.random.default_rng(seed), torch_gen=torch.Generator().manual_seed(seed), **args)


def _fill(buf: ReplayBuffer, n: int, start: int = 0) -> None:
    k = np.arange(start, start + n, dtype=np.float32)
    buf.add(np.stack([k, k], 1), k[:, None], k, -k, np.stack([k, k], 1) + 1, np.zeros(n))


def test_replay_buffer_ring_keeps_newest():
    buf = ReplayBuffer(5, 2, 1)
    _fill(buf, 3)
    assert len(buf) == 3 and buf.pos == 3
    _fill(buf, 4, start=3)  # 7 in all: 0 and 1 overwritten
    assert len(buf) == 5
    assert sorted(buf.rewards[:, 0].tolist()) == [2, 3, 4, 5, 6]
    _fill(buf, 8, start=100)  # more than capacity at once: the newest 5 survive
    assert sorted(buf.rewards[:, 0].tolist()) == [103, 104, 105, 106, 107]


def test_replay_buffer_sample_is_typed_and_seeded():
    buf = ReplayBuffer(10, 2, 1)
    _fill(buf, 10)
    a = buf.sample(6, np.random.default_rng(1))
    b = buf.sample(6, np.random.default_rng(1))
    assert isinstance(a, ReplaySamples) and a.obs.shape == (6, 2) and a.rewards.shape == (6, 1)
    assert a.ext_rewards.shape == (6, 1) and a.dones.dtype == torch.float32
    assert torch.equal(a.obs, b.obs)
    assert torch.equal(a.ext_rewards, -a.rewards)


def test_replay_buffer_state_round_trip():
    buf = ReplayBuffer(6, 2, 1, context_dim=3)
    _fill(buf, 9)
    buf.add(np.zeros((2, 2)), np.zeros((2, 1)), np.zeros(2), np.zeros(2), np.zeros((2, 2)), np.ones(2), np.full((2, 3), 7.0))
    other = ReplayBuffer(6, 2, 1, context_dim=3)
    other.load_state_dict(buf.state_dict())
    for key in ("obs", "actions", "rewards", "ext_rewards", "next_obs", "dones", "context"):
        np.testing.assert_array_equal(getattr(buf, key), getattr(other, key))
    assert (other.pos, other.size) == (buf.pos, buf.size)


def test_noise_schedule_constant_then_decay():
    s = NoiseSchedule(0.5, 100, 0.99)
    assert s(0) == s(99) == 0.5
    assert s(100) == pytest.approx(0.5 * 0.99)
    assert s(399) == pytest.approx(0.5 * 0.99**300)


@settings(max_examples=200, deadline=None)
@given(mu=st.floats(0, 1), sigma=st.floats(0, 3), u=st.floats(0, 1, exclude_max=True))
def test_truncated_normal_stays_in_unit_interval(mu: float, sigma: float, u: float):
    x = truncated_normal(mu, sigma, u)
    assert 0.0 <= x <= 1.0


def test_truncated_normal_is_monotone_in_u_and_centred():
    us = np.linspace(0.001, 0.999, 101)
    xs = [truncated_normal(0.3, 0.2, u) for u in us]
    assert all(b >= a for a, b in zip(xs, xs[1:]))
    assert truncated_normal(0.3, 0.2, 0.5) == pytest.approx(0.3, abs=0.02)  # median near mu when barely truncated
    assert truncated_normal(0.3, 0.0, 0.9) == 0.3
    draws = [truncated_normal(0.5, 0.5, u) for u in np.random.default_rng(0).random(4000)]
    assert np.mean(draws) == pytest.approx(0.5, abs=0.02)


def test_numpy_actor_matches_torch_actor():
    agent = _ddpg(obs_dim=5, act_dim=2)
    x = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    with torch.no_grad():
        expected = agent.actor(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(agent.act(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(agent.act(x[0]), expected[0], rtol=1e-5, atol=1e-6)


def test_initialisation_uses_only_the_given_generator():
    torch.manual_seed(123)
    a = _ddpg(seed=4)
    torch.manual_seed(999)
    b = _ddpg(seed=4)
    for p, q in zip(a.actor.parameters(), b.actor.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(a.actor.parameters(), a.actor_target.parameters()):
        assert torch.equal(p, q)


def test_ddpg_learns_a_contextual_bandit():
    """One-step problem: the best action equals the first observation; DDPG must find it."""
    rng = np.random.default_rng(0)
    agent = _ddpg(obs_dim=2, act_dim=1, buffer_size=512)
    for _ in range(60):
        obs = rng.random((32, 2)).astype(np.float32)
        act = np.clip(agent.act(obs)[:, 0] + rng.normal(0, 0.3, 32), 0, 1)
        reward = -((act - obs[:, 0]) ** 2)
        agent.buffer.add(obs, act[:, None], reward, np.zeros(32), obs, np.ones(32))
        agent.update(20)
    test = np.stack([np.linspace(0.1, 0.9, 9), np.full(9, 0.5)], 1).astype(np.float32)
    err = np.abs(agent.act(test)[:, 0] - test[:, 0])
    assert err.max() < 0.12, err


def test_critic_context_explains_the_reward_the_actor_cannot_change():
    """Reward = 2 * context - 2 * (a - 0.7)^2: the critic learns the context's share, the actor still finds 0.7."""
    rng = np.random.default_rng(0)
    agent = _ddpg(obs_dim=1, act_dim=1, buffer_size=512, context_dim=1)
    obs = np.full((32, 1), 0.5, np.float32)
    for _ in range(60):
        ctx = rng.random((32, 1)).astype(np.float32)
        act = np.clip(agent.act(obs)[:, 0] + rng.normal(0, 0.3, 32), 0, 1)
        reward = 2.0 * ctx[:, 0] - 2.0 * (act - 0.7) ** 2
        agent.buffer.add(obs, act[:, None], reward, np.zeros(32), obs, np.ones(32), ctx)
        agent.update(20)
    with torch.no_grad():
        q = agent.critic(torch.tensor([[0.5, 0.0, 0.7], [0.5, 1.0, 0.7]]))[:, 0]
    assert abs(float(q[1] - q[0]) - 2.0) < 0.3, q
    assert abs(float(agent.act(obs[:1])[0, 0]) - 0.7) < 0.12


@pytest.mark.parametrize("penalty", [0.0, 100.0])
def test_residual_penalty_holds_the_actor_near_its_prior(penalty: float):
    """Rewards that favour action 1 everywhere: without the penalty the actor leaves its prior (0.5), with it barely."""
    from autoq.agents.policies import Prior

    rng = np.random.default_rng(0)
    agent = _ddpg(obs_dim=2, prior=Prior(0, 0.0, 0.5), residual_penalty=penalty)
    for _ in range(30):
        obs = rng.random((32, 2)).astype(np.float32)
        act = rng.random(32).astype(np.float32)
        agent.buffer.add(obs, act[:, None], act, np.zeros(32), obs, np.ones(32))
        agent.update(20)
    moved = float(np.abs(agent.act(rng.random((16, 2)).astype(np.float32)) - 0.5).mean())
    assert (moved > 0.2) if penalty == 0 else (moved < 0.1), moved


def test_extrinsic_reward_is_standardised_when_sampled():
    """Stored raw extrinsic rewards enter the critic target as clip((r - baseline) / scale)."""
    agent = _ddpg(buffer_size=64, batch_size=64, ext_weight=0.5, critic_lr=0.05)
    obs = np.full((64, 3), 0.5, np.float32)
    agent.buffer.add(obs, np.full((64, 1), 0.5), np.full(64, 0.1), np.full(64, 100.0), obs, np.ones(64))
    for _ in range(300):
        agent.update(1, baseline=90.0, scale=4.0, clip=2.0)  # (100 - 90) / 4 = 2.5 -> clipped to 2
    with torch.no_grad():
        q = agent.critic(torch.tensor([[0.5, 0.5, 0.5, 0.5]])).item()
    assert q == pytest.approx(0.1 + 0.5 * 2.0, abs=0.05)


def test_update_is_deterministic_and_state_round_trips():
    def run(agent: DDPG) -> None:
        rng = np.random.default_rng(0)
        obs = rng.random((100, 3)).astype(np.float32)
        agent.buffer.add(obs, rng.random((100, 1)), rng.random(100), rng.random(100), obs, rng.random(100) < 0.5)

    a, b = _ddpg(discount=1.0), _ddpg(discount=1.0)
    run(a), run(b)
    a.update(5), b.update(5)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    c = _ddpg(seed=9, discount=1.0)
    c.load_state_dict(torch.load(buf, weights_only=True))
    c.rng.bit_generator.state = a.rng.bit_generator.state
    la, lc = a.update(5), c.update(5)
    b.update(5)
    assert la == lc
    for p, q, r in zip(a.actor.parameters(), b.actor.parameters(), c.actor.parameters()):
        assert torch.equal(p, q) and torch.equal(p, r)


def test_drawn_batches_then_learning_equals_update():
    """Drawing the minibatches first (to update several learners at once) changes nothing."""

    def filled() -> DDPG:
        agent = _ddpg(discount=1.0)
        rng = np.random.default_rng(0)
        obs = rng.random((100, 3)).astype(np.float32)
        agent.buffer.add(obs, rng.random((100, 1)), rng.random(100), rng.random(100), obs, rng.random(100) < 0.5)
        return agent

    a, b = filled(), filled()
    batches = b.draw_batches(6)
    assert batches.shape == (6, 32) and batches.min() >= 0 and batches.max() < 100
    assert a.update(6, 0.5, 2.0) == b.learn_from(batches, 0.5, 2.0)
    for p, q in zip(a.critic.parameters(), b.critic.parameters()):
        assert torch.equal(p, q)
    assert _ddpg().draw_batches(6).shape == (0, 32)  # empty buffer: nothing to learn from
