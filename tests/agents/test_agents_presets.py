"""Agent presets: the paper's card in full, overridable, refused when unknown."""

from __future__ import annotations

import dataclasses

import pytest

from autoq.agents import AgentConfig, create_agent
from autoq.agents.presets import PRESETS, apply_preset
from autoq.errors import AutoQError
from autoq.tasks.synthetic import SyntheticTask

# the AutoQ paper's stated values (docs/agents.md, "Presets") and the HAQ values it falls back on
PAPER_CARD = dict(
    actor_lr=1e-4,
    critic_lr=1e-3,
    batch_size=64,
    buffer_size=2000,
    buffer_episodes=None,
    noise=0.5,
    warmup_episodes=100,
    noise_decay=0.99,
    goal_max=8.0,
    action_max=8,
    goal_prior=False,
    spread_prior=0.0,
    residual_penalty=0.0,
    kernel_noise=1.0,
    hidden=300,
    tau=0.01,
    discount=1.0,
    zeta=0.5,
    joint_critic=False,
    layer_updates_per_episode=None,
    kernel_updates_per_episode=None,
    kernel_samples_per_episode=None,
    normalize_advantage=False,
    preact_limit=0.0,
)


def test_paper_preset_sets_every_field_but_itself():
    fields = {f.name for f in dataclasses.fields(AgentConfig)} - {"preset"}
    assert set(PRESETS["paper"]) == fields
    cfg = AgentConfig(**apply_preset({"preset": "paper"}))
    for name, value in PAPER_CARD.items():
        assert getattr(cfg, name) == value, name
    # 100 episodes at 0.5, then 300 of exponential decay
    schedule = cfg.noise_schedule()
    assert schedule(99) == pytest.approx(0.5) and schedule(399) == pytest.approx(0.5 * 0.99**300, rel=0.02)


def test_given_options_override_the_preset():
    cfg = AgentConfig(**apply_preset({"preset": "paper", "zeta": 0.2, "kernel_noise": 0.5}))
    assert cfg.zeta == 0.2 and cfg.kernel_noise == 0.5 and cfg.actor_lr == 1e-4
    assert apply_preset({"zeta": 0.2}) == {"zeta": 0.2}  # no preset: unchanged


def test_unknown_preset_is_refused():
    with pytest.raises(AutoQError, match="unknown agent preset 'haq'; known: paper"):
        apply_preset({"preset": "haq"})
    with pytest.raises(AutoQError, match="unknown preset"):
        AgentConfig(preset="haq")


def test_paper_agent_updates_once_per_stored_transition():
    task = SyntheticTask.make(n_layers=3, channels=(4, 6), seed=3)
    options = apply_preset({"preset": "paper", "hidden": 8, "batch_size": 4, "buffer_size": 64})
    agent = create_agent("autoq", task.spec, AgentConfig(**options), seed=0)
    for _ in range(3):
        task.run_episode(agent)
    n_kernels, n_layers = task.spec.n_kernels, task.spec.n_layers
    assert len(agent.low.buffer) == min(3 * n_kernels, 64)  # every kernel stored
    assert agent.low.updates == 3 * n_kernels  # one update per kernel transition (the buffer held a batch at once)
    assert agent.high.updates == 3 * n_layers  # one per layer step (HAQ)
    assert agent.low.actor.prior is None and agent.low.residual_penalty == 0.0
