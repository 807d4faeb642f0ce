"""Every hyperparameter of the agents in one dataclass, each with its one-line documentation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from autoq.errors import AutoQError

from .noise import NoiseSchedule
from .presets import PRESETS


def _opt(default: object, help: str, **kw: Any) -> Any:
    """A dataclass field with its one-line documentation (the search's command line shows it)."""
    return dataclasses.field(default=default, metadata={"help": help, **kw})


@dataclass
class AgentConfig:
    """Every hyperparameter of the agents.

    The defaults are this project's tuned values; ``preset="paper"`` gives the paper's (presets.py),
    through :func:`~autoq.agents.presets.apply_preset` (the search applies it before building this).
    """

    preset: str | None = _opt(
        None,
        "start every agent setting from a named preset: paper (the AutoQ paper's values); other settings override it",
        choices=tuple(PRESETS),
    )
    actor_lr: float = _opt(1e-4, "Adam learning rate of every actor")
    critic_lr: float = _opt(1e-3, "Adam learning rate of every critic")
    batch_size: int = _opt(64, "transitions per gradient update")
    buffer_size: int = _opt(2000, "replay capacity (transitions) of each controller")
    buffer_episodes: int | None = _opt(50, "learn only from each controller's transitions of the last N episodes")
    hidden: int = _opt(300, "units in each of the two hidden layers of actors and critics")
    tau: float = _opt(0.01, "soft target-network update rate")
    discount: float = _opt(1.0, "discount between layer steps of the layer-level controllers (HLC, HAQ)")
    noise: float = _opt(0.5, "initial std (delta) of the truncated-normal exploration noise, in action units")
    warmup_episodes: int = _opt(100, "episodes at constant noise before the decay starts")
    noise_decay: float = _opt(0.99, "multiplicative noise decay per episode after the warm-up")
    zeta: float = _opt(0.5, "weight of the extrinsic reward in the low-level shaped reward (0 = plain HIRO)")
    joint_critic: bool = _opt(
        True, "the high-level critic values the episode's joint decisions: every layer's activation and goal actions"
    )
    relabel: bool = _opt(False, "HIRO relabeling: store high-level goals as the mean weight QBN actually achieved")
    goal_prior: bool = _opt(True, "the low-level actor outputs the goal's action plus a learned deviation (residual)")
    kernel_noise: float = _opt(0.1, "the low-level controller's exploration noise, as a fraction of the high-level one's")
    residual_penalty: float = _opt(
        100.0, "weight of the squared learned deviation from the goal prior in the low-level actor's loss"
    )
    spread_prior: float = _opt(
        1.0,
        "the goal prior gives each kernel this times log2(its std / the layer's geometric-mean std) bits "
        "over the needed mean (0: even)",
    )
    goal_max: float = _opt(8.0, "upper end of the goal range (mean weight QBN of a layer)")
    action_max: int = _opt(8, "upper end of the kernel action map (weight QBN of a kernel)")
    layer_updates_per_episode: int | None = _opt(
        16, "updates of each layer-level learner per episode; None = one per layer (HAQ)"
    )
    kernel_updates_per_episode: int | None = _opt(
        16, "updates of each kernel-level learner (LLC, flat) per episode; None = one per kernel transition stored"
    )
    kernel_samples_per_episode: int | None = _opt(
        256, "kernel transitions stored per episode (uniform subsample); None = every kernel"
    )
    baseline_decay: float = _opt(0.95, "EMA decay of the running mean (baseline) and std of the episode reward")
    normalize_advantage: bool = _opt(True, "learners see (reward - baseline) / std; False: reward - baseline (HAQ)")
    advantage_clip: float = _opt(5.0, "standardised extrinsic rewards are clipped to +-this")
    preact_limit: float = _opt(3.0, "actors are penalised for pre-sigmoid outputs beyond +-this (0: off)")

    def __post_init__(self) -> None:
        checks = [
            (self.actor_lr > 0 and self.critic_lr > 0, "actor_lr and critic_lr must be positive"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.buffer_size >= self.batch_size, "buffer_size must be at least batch_size"),
            (self.hidden >= 1, "hidden must be at least 1"),
            (self.buffer_episodes is None or self.buffer_episodes >= 1, "buffer_episodes must be at least 1"),
            (0 < self.tau <= 1, "tau must be in (0, 1]"),
            (0 <= self.discount <= 1, "discount must be in [0, 1]"),
            (self.noise >= 0, "noise must be non-negative"),
            (self.warmup_episodes >= 0, "warmup_episodes must be non-negative"),
            (0 < self.noise_decay <= 1, "noise_decay must be in (0, 1]"),
            (0 <= self.zeta <= 1, "zeta must be in [0, 1]"),
            (self.spread_prior >= 0 and self.residual_penalty >= 0, "spread_prior and residual_penalty must be non-negative"),
            (self.kernel_noise >= 0, "kernel_noise must be non-negative"),
            (self.goal_max > 0 and self.action_max >= 1, "goal_max and action_max must be positive"),
            (
                self.layer_updates_per_episode is None or self.layer_updates_per_episode >= 0,
                "layer_updates_per_episode must be non-negative",
            ),
            (
                self.preset is None or self.preset in PRESETS,
                f"unknown preset {self.preset!r}; known: {', '.join(sorted(PRESETS))}",
            ),
            (
                self.kernel_updates_per_episode is None or self.kernel_updates_per_episode >= 0,
                "kernel_updates_per_episode must be non-negative",
            ),
            (
                self.kernel_samples_per_episode is None or self.kernel_samples_per_episode >= 1,
                "kernel_samples_per_episode must be at least 1",
            ),
            (0 <= self.baseline_decay < 1, "baseline_decay must be in [0, 1)"),
            (self.preact_limit >= 0, "preact_limit must be non-negative"),
            (self.advantage_clip > 0, "advantage_clip must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise AutoQError(f"agent config: {message}")

    def noise_schedule(self) -> NoiseSchedule:
        return NoiseSchedule(self.noise, self.warmup_episodes, self.noise_decay)
