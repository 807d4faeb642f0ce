"""Flat kernel-wise DDPG: one agent, one step per kernel, no hierarchy (the paper's failing baseline).

Activations: before the kernels of each layer the agent takes one extra step, an *activation step*,
whose action is the layer's activation QBN. It uses the same actor and the kernel observation layout
with the kernel part zero and the flag (the slot where the hierarchical LLC sees its goal) set to 1;
kernel steps have the flag at 0. Every step, activation or kernel, is a one-step (terminal)
transition rewarded with the episode's extrinsic reward minus the moving-average baseline; all
activation steps and a uniform subsample of ``kernel_samples_per_episode`` kernel steps are stored.
It gets as many gradient updates per episode as the two hierarchical controllers together.
"""

from __future__ import annotations

import numpy as np

from . import observations as obs_mod
from .actions import bits_to_action
from .base import Agent
from .config import AgentConfig
from .kernel_policy import run_kernel_policy
from .noise import truncated_normal
from .registry import AGENTS
from .spec import NetworkSpec


class FlatKernelAgent(Agent):
    """One DDPG deciding every kernel's QBN and, in one extra step per layer, the activation QBN."""

    name = "ddpg-kernel"
    learns_from_demonstrations = True

    def __init__(self, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> None:
        super().__init__(spec, config, seed)
        self.ddpg = self._make_ddpg(obs_mod.KERNEL_OBS, 1)

    def _reset_episode(self) -> None:
        super()._reset_episode()
        n = self.spec.n_layers
        self._act_obs = np.zeros((n, obs_mod.KERNEL_OBS), np.float32)
        self._act_actions = np.zeros(n, np.float32)
        self._k_obs: list[np.ndarray] = [np.zeros((0, obs_mod.KERNEL_OBS), np.float32)] * n
        self._k_actions: list[np.ndarray] = [np.zeros(0, np.float32)] * n
        self._k_stored = 0  # kernel transitions stored by the episode (set when it ends)

    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, None]:
        x = np.zeros(obs_mod.KERNEL_OBS, np.float32)
        x[: obs_mod.LAYER_OBS] = self._layer_obs[i]
        x[obs_mod.COL_GOAL] = 1.0  # activation step
        mu = float(self.ddpg.act(x)[0])
        a = truncated_normal(mu, self.noise_scale(), float(self.rng.random()))
        if self._demo is not None:
            a = bits_to_action(self._demo_bits(i)[1], self.a_lo, self.a_hi)
        a_bits, a = self._capped_act_bits(a, act_max)
        self._act_obs[i], self._act_actions[i] = x, a
        return a_bits, None

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        x = self._kernel_obs_static(i)  # flag column stays 0: kernel step
        u = self.rng.random(len(x))
        actions, bits = run_kernel_policy(
            self.ddpg.actor_weights(),
            x,
            u,
            self.noise_scale(),
            self.w_lo,
            self.w_map_hi,
            w_max,
            bits_sum_max,
            self.w_hi,
            forced=None if self._demo is None else self._demo_bits(i)[0],
        )
        self._k_obs[i], self._k_actions[i] = x, actions
        return bits

    def _finish(self, reward: float, w_bits: list[np.ndarray], a_bits: np.ndarray) -> dict[str, float]:
        act_actions = self._applied_act_actions(self._act_actions, a_bits)
        k_obs = np.concatenate(self._k_obs)
        k_act = self._applied_kernel_actions(self._k_actions, w_bits)
        idx = self._kernel_sample(len(k_obs))
        obs = np.concatenate([self._act_obs, k_obs[idx]])
        act = np.concatenate([act_actions, k_act[idx]])[:, None]
        m = len(obs)
        self._k_stored = len(idx)
        self.ddpg.buffer.add(obs, act, np.zeros(m), np.full(m, reward), obs, np.ones(m, np.float32))
        return {"mean_weight_bits": float(np.concatenate(w_bits).mean())}

    def learn(self) -> dict[str, float]:
        return self.ddpg.update(self._kernel_updates(self._k_stored) + self._layer_updates(), *self._update_args())

    def _state(self) -> dict:
        return {"ddpg": self.ddpg.state_dict()}

    def _load(self, state: dict) -> None:
        self.ddpg.load_state_dict(state["ddpg"])


@AGENTS.register("ddpg-kernel")
def _ddpg_kernel(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    return FlatKernelAgent(spec, config, seed)
