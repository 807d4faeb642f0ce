"""The agent interface the search drives: :class:`Agent`, the base class of every agent.

An episode, as the search runs it::

    agent.begin_episode()
    for i in range(spec.n_layers):
        a_bits, goal = agent.act_layer(i, budget_left=..., act_max=..., goal_max=...)
        w_bits = agent.act_kernels(i, KernelLimits(w_max=..., bits_sum_max=...))
    info = agent.end_episode(reward, final_weight_bits, final_act_bits)

:class:`Agent` does the bookkeeping every agent shares (call order, limits, the previous layer's
bits, the reward baseline, random generators, episode counter, save/load); subclasses implement
``_act_layer``, ``_act_kernels`` and ``_finish``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from autoq.errors import AutoQError

from . import observations as obs_mod
from .actions import action_to_bits, bits_to_action
from .config import AgentConfig
from .ddpg import DDPG
from .policies import Prior
from .spec import KernelLimits, LayerAction, NetworkSpec

STATE_VERSION = 3


class Agent:
    """Base class: call-order bookkeeping, limits, reward baseline, generators and save/load."""

    name: ClassVar[str] = "agent"
    learns_from_demonstrations: ClassVar[bool] = False

    def __init__(self, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> None:
        self.spec = spec
        self.config = config or AgentConfig()
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        self.episode = 0  # finished episodes
        self.baseline: float | None = None  # running mean of the episode reward
        self.reward_std = 0.0
        self._stats_n, self._stats_m, self._stats_v = 0, 0.0, 0.0
        self.w_lo, self.w_hi = spec.w_range
        self.a_lo, self.a_hi = spec.a_range
        self.w_map_hi = max(self.w_lo, min(self.w_hi, int(self.config.action_max)))
        self.goal_hi = max(float(self.w_lo), min(float(self.w_hi), float(self.config.goal_max)))
        self._schedule = self.config.noise_schedule()
        self._in_episode = False
        self._explore = True
        self._reset_episode()

    # the interface ------------------------------------------------------------------------------
    def noise_scale(self) -> float:
        """Exploration noise (delta) of the current episode (0 in a greedy episode)."""
        return self._schedule(self.episode) if self._explore else 0.0

    def begin_episode(
        self, explore: bool = True, demonstration: tuple[Sequence[np.ndarray], Sequence[int]] | None = None
    ) -> None:
        """Start an episode; ``explore=False`` gives a greedy one (no noise) that is not learned from.

        ``demonstration``: every layer's kernel bits and activation bits (in the agent's layer order)
        that the episode plays instead of the agent's own choices, within the same limits; the agent
        observes and learns from it as from its own episode (a warm start).
        """
        if self._in_episode:
            raise RuntimeError("begin_episode called twice without end_episode")
        self._reset_episode()
        self._explore = bool(explore)
        if demonstration is not None:
            w, a = demonstration
            if not self.learns_from_demonstrations:
                raise AutoQError(f"the {self.name} agent does not learn from demonstrations")
            if [len(x) for x in w] != list(self.spec.c_out) or len(a) != self.spec.n_layers:
                raise ValueError("a demonstration gives one kernel-bit array and one activation QBN per layer")
            self._demo = ([np.asarray(x, np.int64) for x in w], [int(x) for x in a])
        self._in_episode = True

    def act_layer(
        self, i: int, budget_left: float | None = None, act_max: int | None = None, goal_max: float | None = None
    ) -> LayerAction:
        """Activation QBN of layer ``i`` (at most ``act_max``) and the goal (at most ``goal_max``)."""
        if not self._in_episode:
            raise RuntimeError("act_layer called outside an episode (call begin_episode first)")
        if i != self._next_layer or self._awaiting_kernels:
            raise RuntimeError(f"act_layer({i}) out of order: layer {self._next_layer} expected, layers go in order")
        a_max = self.a_hi if act_max is None else min(self.a_hi, int(act_max))
        if a_max < self.a_lo:
            raise AutoQError(
                f"layer {self.spec.names[i]}: the budget allows at most {act_max}-bit activations, "
                f"below the minimum of {self.a_lo}; raise the budget or lower the activation minimum"
            )
        g_max = self.goal_hi if goal_max is None else max(float(self.w_lo), min(self.goal_hi, float(goal_max)))
        self._budget[i] = 1.0 if budget_left is None else float(min(max(budget_left, 0.0), 1.0))
        self._layer_obs[i] = self._make_layer_obs(i)
        a_bits, goal = self._act_layer(i, a_max, g_max)
        self._act_bits[i] = int(a_bits)
        self._goals[i] = goal
        self._awaiting_kernels = True
        return LayerAction(int(a_bits), None if goal is None else float(goal))

    def act_kernels(self, i: int, limits: KernelLimits | None = None) -> np.ndarray:
        """Weight QBN of every kernel of layer ``i``, within ``limits`` (int64 array of length c_out)."""
        if not (self._in_episode and self._awaiting_kernels and i == self._next_layer):
            raise RuntimeError(f"act_kernels({i}) out of order: call act_layer({i}) first, layers go in order")
        limits = limits or KernelLimits()
        n = self.spec.c_out[i]
        w_max = self.w_hi if limits.w_max is None else min(self.w_hi, int(limits.w_max))
        if w_max < self.w_lo:
            raise AutoQError(
                f"layer {self.spec.names[i]}: the budget allows at most {limits.w_max}-bit kernels, "
                f"below the minimum of {self.w_lo}; raise the budget"
            )
        sum_max = limits.bits_sum_max
        if sum_max is not None:
            sum_max = int(sum_max)
            if sum_max < n * self.w_lo:
                raise AutoQError(
                    f"layer {self.spec.names[i]}: the budget leaves {sum_max} bits for {n} kernels, "
                    f"below {n * self.w_lo} at {self.w_lo} bit each; raise the budget"
                )
            if sum_max >= n * w_max:
                sum_max = None  # cannot bind
        bits = np.asarray(self._act_kernels(i, w_max, sum_max), np.int64)
        if bits.shape != (n,) or bits.min() < self.w_lo or bits.max() > w_max or (sum_max is not None and bits.sum() > sum_max):
            raise AssertionError(f"{self.name}: kernel bits of layer {i} break the limits")  # an agent bug
        self._w_bits[i] = bits
        self._awaiting_kernels = False
        self._next_layer += 1
        return bits.copy()

    def end_episode(
        self,
        reward: float,
        final_weight_bits: Sequence[np.ndarray] | None = None,
        final_act_bits: Sequence[int] | None = None,
    ) -> dict[str, float]:
        """Close the episode with its extrinsic reward and the bits actually applied; learn; return log values."""
        if not self._in_episode or self._next_layer != self.spec.n_layers:
            raise RuntimeError("end_episode before every layer got its bits")
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"the episode reward is {reward}")
        w_final = [np.asarray(b, np.int64) for b in (final_weight_bits if final_weight_bits is not None else self._w_bits)]
        a_final = np.asarray(final_act_bits if final_act_bits is not None else self._act_bits, np.int64)
        if len(w_final) != self.spec.n_layers or a_final.shape != (self.spec.n_layers,):
            raise ValueError("final bits must give one weight array and one activation QBN per layer")
        noise = self.noise_scale()
        if not self._explore:  # greedy episode: evaluation only
            self._in_episode = False
            return {"reward": reward, "noise": noise, "mean_weight_bits": float(np.concatenate(w_final).mean())}
        self._update_reward_stats(reward)
        info = {"reward": reward, "advantage": self.advantage(reward), "baseline": self.baseline, "noise": noise}
        info.update(self._finish(reward, w_final, a_final))
        info.update(self.learn())
        self.episode += 1
        self._in_episode = False
        return info

    def _update_reward_stats(self, reward: float) -> None:
        """Bias-corrected exponential moving mean and variance of the episode reward."""
        d = self.config.baseline_decay
        self._stats_n += 1
        self._stats_m = d * self._stats_m + (1.0 - d) * reward
        self._stats_v = d * self._stats_v + (1.0 - d) * reward * reward
        corr = 1.0 - d**self._stats_n
        self.baseline = self._stats_m / corr
        self.reward_std = math.sqrt(max(self._stats_v / corr - self.baseline**2, 0.0))

    def reward_scale(self) -> float:
        """Divisor of (reward - baseline) for the learners: the running std (1 without normalisation)."""
        if not self.config.normalize_advantage:
            return 1.0
        return max(self.reward_std, 1e-8)

    def advantage(self, reward: float) -> float:
        """The extrinsic reward as the learners see it now: standardised and clipped."""
        if self.baseline is None:
            return 0.0
        clip = self.config.advantage_clip if self.config.normalize_advantage else math.inf
        return float(np.clip((reward - self.baseline) / self.reward_scale(), -clip, clip))

    def _update_args(self) -> tuple[float, float, float]:
        """(baseline, scale, clip) for :meth:`DDPG.update`."""
        clip = self.config.advantage_clip if self.config.normalize_advantage else math.inf
        return (0.0 if self.baseline is None else self.baseline), self.reward_scale(), clip

    def learn(self) -> dict[str, float]:
        """Gradient updates after an episode (called by :meth:`end_episode`); nothing for non-learning agents."""
        return {}

    # save / load --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly; tensors and plain containers only (``weights_only`` loadable)."""
        if self._in_episode:
            raise RuntimeError("state_dict during an episode; save between episodes")
        return {
            "version": STATE_VERSION,
            "name": self.name,
            "c_out": list(self.spec.c_out),
            "config": dataclasses.asdict(self.config),
            "seed": self.seed,
            "episode": self.episode,
            "reward_stats": [self._stats_n, self._stats_m, self._stats_v],
            "baseline": self.baseline,
            "reward_std": self.reward_std,
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_gen.get_state(),
            "agent": self._state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if self._in_episode:
            raise RuntimeError("load_state_dict during an episode")
        if state.get("version") != STATE_VERSION:
            raise AutoQError(
                f"agent state version {state.get('version')} is not supported (expected {STATE_VERSION}): "
                "it was saved by another autoq release; start the search afresh"
            )
        if state["name"] != self.name:
            raise AutoQError(f"the saved agent is {state['name']!r}, not {self.name!r}")
        if list(state["c_out"]) != list(self.spec.c_out):
            raise AutoQError("the saved agent was made for a network with other layers")
        self.seed = int(state["seed"])
        self.episode = int(state["episode"])
        n, m, v = state["reward_stats"]
        self._stats_n, self._stats_m, self._stats_v = int(n), float(m), float(v)
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.reward_std = float(state["reward_std"])
        self.rng.bit_generator.state = state["numpy_rng"]  # in place: controllers hold this generator
        self.torch_gen.set_state(state["torch_rng"])
        self._load(state["agent"])

    # helpers for subclasses ---------------------------------------------------------------------
    def _reset_episode(self) -> None:
        n = self.spec.n_layers
        self._next_layer = 0
        self._awaiting_kernels = False
        self._act_bits: list[int] = [0] * n
        self._w_bits: list[np.ndarray] = [np.zeros(0, np.int64)] * n
        self._goals: list[float | None] = [None] * n
        self._budget = np.ones(n, np.float32)
        self._layer_obs = np.zeros((n, obs_mod.LAYER_OBS), np.float32)
        self._demo: tuple[list[np.ndarray], list[int]] | None = None

    def _demo_bits(self, i: int) -> tuple[np.ndarray, int] | None:
        """Layer ``i``'s kernel and activation bits in a demonstration episode (None otherwise)."""
        return None if self._demo is None else (self._demo[0][i], self._demo[1][i])

    def _make_layer_obs(self, i: int) -> np.ndarray:
        """Layer observation (observations.py): static features, previous layer's bits, budget left."""
        if i == 0:
            prev_a = prev_w = 1.0
        else:
            prev_a = (self._act_bits[i - 1] - self.a_lo) / max(self.a_hi - self.a_lo, 1)
            prev_w = (float(self._w_bits[i - 1].mean()) - self.w_lo) / max(self.w_hi - self.w_lo, 1)
        return np.concatenate([self.spec.layer_features[i], [prev_a, prev_w, self._budget[i]]]).astype(np.float32)

    def _kernel_obs_static(self, i: int) -> np.ndarray:
        """[c_out, KERNEL_OBS] kernel observations of layer i with the dynamic columns zero."""
        n = self.spec.c_out[i]
        x = np.zeros((n, obs_mod.KERNEL_OBS), np.float32)
        x[:, : obs_mod.LAYER_OBS] = self._layer_obs[i]
        x[:, obs_mod.LAYER_OBS : obs_mod.COL_PREV] = self.spec.kernel_features[i]
        return x

    def _norm_w(self, bits: np.ndarray | float) -> np.ndarray | float:
        return (bits - self.w_lo) / max(self.w_hi - self.w_lo, 1)

    def _make_ddpg(self, obs_dim: int, act_dim: int, ext_weight: float = 1.0, prior: Prior | None = None, **critic: Any) -> DDPG:
        """A DDPG learner with the config's hyperparameters; ``critic``: its context and input (see :class:`DDPG`)."""
        c = self.config
        return DDPG(
            obs_dim,
            act_dim,
            hidden=c.hidden,
            actor_lr=c.actor_lr,
            critic_lr=c.critic_lr,
            tau=c.tau,
            discount=c.discount,
            batch_size=c.batch_size,
            buffer_size=c.buffer_size,
            buffer_episodes=c.buffer_episodes,
            rng=self.rng,
            torch_gen=self.torch_gen,
            preact_limit=c.preact_limit or None,
            ext_weight=ext_weight,
            prior=prior,
            residual_penalty=c.residual_penalty,  # acts only on an actor with a prior
            **critic,
        )

    def _capped_act_bits(self, a: float, act_max: int) -> tuple[int, float]:
        """Activation QBN of action ``a`` lowered to ``act_max``, and the action that QBN stands for."""
        bits = action_to_bits(a, self.a_lo, self.a_hi)
        if bits > act_max:
            return act_max, bits_to_action(act_max, self.a_lo, self.a_hi)
        return bits, a

    def _applied_act_actions(self, actions: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
        """The layers' activation actions as applied: the bin centre where the search changed the QBN."""
        out, a_bits = np.array(actions), np.asarray(a_bits)
        changed = a_bits != np.asarray(self._act_bits)
        out[changed] = bits_to_action(a_bits[changed], self.a_lo, self.a_hi)
        return out

    def _applied_kernel_actions(self, chosen: list[np.ndarray], w_bits: list[np.ndarray]) -> np.ndarray:
        """Every layer's kernel actions as applied, concatenated: the bin centre where the bits changed."""
        out = []
        for i, act in enumerate(chosen):
            act = act.copy()
            changed = w_bits[i] != self._w_bits[i]
            act[changed] = bits_to_action(w_bits[i][changed], self.w_lo, self.w_map_hi)
            out.append(np.clip(act, 0.0, 1.0))
        return np.concatenate(out)

    def _kernel_sample(self, total: int) -> np.ndarray:
        """Sorted indices of the kernel transitions to store: a uniform subsample of ``kernel_samples_per_episode``."""
        k = self.config.kernel_samples_per_episode
        return np.sort(self.rng.choice(total, size=k, replace=False)) if k is not None and total > k else np.arange(total)

    def _kernel_updates(self, stored: int) -> int:
        """Updates of a kernel-level learner after an episode that stored ``stored`` kernel transitions."""
        n = self.config.kernel_updates_per_episode
        return stored if n is None else n

    def _store_layer_steps(self, ddpg: DDPG, actions: np.ndarray, reward: float) -> None:
        """HAQ's layer transitions: each step bootstraps from the next layer's, the last is terminal."""
        n, obs = self.spec.n_layers, self._layer_obs
        next_obs = np.concatenate([obs[1:], np.zeros_like(obs[:1])])
        dones = np.zeros(n, np.float32)
        dones[-1] = 1.0
        ddpg.buffer.add(obs, actions, np.zeros(n), np.full(n, reward), next_obs, dones)

    def _layer_updates(self) -> int:
        n = self.config.layer_updates_per_episode
        return self.spec.n_layers if n is None else n

    # to implement -------------------------------------------------------------------------------
    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, float | None]:
        raise NotImplementedError

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        raise NotImplementedError

    def _finish(self, reward: float, w_bits: list[np.ndarray], a_bits: np.ndarray) -> dict[str, float]:
        """Store the episode's transitions (raw extrinsic ``reward``, fixed reward parts); return log values."""
        return {}

    def _state(self) -> dict:
        return {}

    def _load(self, state: dict) -> None:
        pass
