"""Named sets of agent hyperparameters that every other agent setting starts from.

``paper``: the configuration the AutoQ paper states, and nothing this project added. Actor learning
rate 1e-4, critic 1e-3, batch 64, a replay buffer of 2000 transitions sampled in full, exploration
noise 0.5 for 100 episodes then decayed by 0.99 per episode (300 episodes: down to 0.025), goal and
kernel action ranges up to 8 bits, the low-level controller exploring as much as the high-level one,
a plain goal-conditioned low-level actor (no prior to spread the goal, no penalty holding it near
one), the shaped reward with zeta 0.5. Where the paper is silent, the HAQ family's values: two
hidden layers of 300 units, tau 0.01, discount 1, one update per stored transition after each
episode (every layer step, every kernel step), each layer step bootstrapping from the next, and
the reward minus a moving-average baseline (not standardised, not clipped, no penalty on the
actor's pre-activation).

A preset fills every field; settings given alongside it (flags, a config file) override it.
"""

from __future__ import annotations

from typing import Any

from autoq.errors import AutoQError

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "actor_lr": 1e-4,
        "critic_lr": 1e-3,
        "batch_size": 64,
        "buffer_size": 2000,
        "buffer_episodes": None,
        "hidden": 300,
        "tau": 0.01,
        "discount": 1.0,
        "noise": 0.5,
        "warmup_episodes": 100,
        "noise_decay": 0.99,
        "zeta": 0.5,
        "joint_critic": False,
        "relabel": False,
        "goal_prior": False,
        "kernel_noise": 1.0,
        "residual_penalty": 0.0,
        "spread_prior": 0.0,
        "goal_max": 8.0,
        "action_max": 8,
        "layer_updates_per_episode": None,
        "kernel_updates_per_episode": None,
        "kernel_samples_per_episode": None,
        "baseline_decay": 0.95,
        "normalize_advantage": False,
        "advantage_clip": 5.0,
        "preact_limit": 0.0,
    },
}


def apply_preset(options: dict[str, Any]) -> dict[str, Any]:
    """Agent options with their ``preset``'s values filled in under them (the options win).

    Without a ``preset`` (or with None) the options are returned unchanged.
    """
    name = options.get("preset")
    if name is None:
        return dict(options)
    if name not in PRESETS:
        raise AutoQError(f"unknown agent preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return {**PRESETS[name], **options}
