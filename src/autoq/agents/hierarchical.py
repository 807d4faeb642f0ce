"""AutoQ's hierarchical agent: a high-level controller per layer, a goal-conditioned low-level one per kernel.

High-level controller (HLC, a :class:`~autoq.agents.ddpg.DDPG` with a 2-d action): observes the layer
(observations.py) and outputs the activation QBN of the layer and a goal, the mean weight QBN its
kernels should reach. Every layer step gets the episode's extrinsic reward (standardised when
sampled, see :class:`~autoq.agents.ddpg.DDPG`). With ``joint_critic`` each step is terminal and the
critic values the episode's joint decision, every layer's (activation, goal) action (the activation
action as the centre of its QBN's bin) with the step's own action in its layer's slot (a
centralised critic: the reward depends on all of them, and all layers' steps then teach one
function); without, HAQ's scheme: a step bootstraps from the next layer's step with ``discount``,
the last is terminal. With ``relabel`` (HIRO), the stored goals are
replaced by the mean QBN the kernels actually got.

Low-level controller (LLC, a DDPG with a 1-d action): observes each kernel plus the goal and outputs
the kernel's QBN. With ``goal_prior`` its actor is residual around the action of the mean QBN the
remaining kernels need to meet the goal, plus ``spread_prior * log2(std_k / geometric-mean std)``
bits (the rate-distortion split of a layer's bits), so it executes the goal, spread, from the first
episode. It explores with ``kernel_noise`` times the high-level noise, and its actor's loss holds the
learned deviation from the prior down (``residual_penalty``): at full noise and unrestrained, its
learning undid the prior. Every kernel of layer L gets the shaped reward

    R_int = (1 - zeta) * (-|g_L - mean QBN of L| / (b_max - b_min)) + zeta * (R_ext - baseline)

computed from the bits actually applied, as a one-step (terminal) transition: the reward already is
the whole outcome of the layer and episode, and bootstrapping through hundreds of kernel steps at
discount 1 would scale the values by the number of steps left. ``zeta = 0`` is plain HIRO.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from autoq.utils.threads import side_by_side

from . import observations as obs_mod
from .actions import action_to_bits, bits_to_action
from .base import Agent
from .config import AgentConfig
from .ddpg import CriticInput
from .kernel_policy import run_kernel_policy
from .noise import truncated_normal
from .policies import Prior
from .registry import AGENTS
from .spec import NetworkSpec


class HierarchicalAgent(Agent):
    """AutoQ (``zeta > 0``, shaped reward) or HIRO (``zeta = 0``): HLC for layers, LLC for kernels."""

    name = "autoq"
    learns_from_demonstrations = True

    def __init__(self, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0, name: str | None = None) -> None:
        super().__init__(spec, config, seed)
        if name is not None:
            self.name = name
        joint = {}
        if self.config.joint_critic:
            n = spec.n_layers
            joint = dict(context_dim=3 * n, critic_input=_slotted(n, 2))
        self.high = self._make_ddpg(obs_mod.LAYER_OBS, 2, **joint)
        prior = None
        if self.config.goal_prior:
            # the bin-centre action of the mean QBN the remaining kernels need to meet the goal, as an
            # affine function of that (normalised) column: deviations the actor learns for one kernel,
            # and exploration noise, are made up by the kernels after it, so the layer keeps its goal
            levels = self.w_map_hi - self.w_lo + 1
            # plus the rate-distortion spread: b_k = needed mean + c * log2(std_k / geometric-mean std)
            spread = self.config.spread_prior * obs_mod.SPREAD_SPAN / levels
            prior = Prior(obs_mod.COL_NEED, (self.w_hi - self.w_lo) / levels, 0.5 / levels, obs_mod.COL_STD_RATIO, spread)
        self.low = self._make_ddpg(obs_mod.KERNEL_OBS, 1, ext_weight=self.config.zeta, prior=prior)

    def _reset_episode(self) -> None:
        super()._reset_episode()
        n = self.spec.n_layers
        self._high_actions = np.zeros((n, 2), np.float32)
        self._chosen_actions = np.zeros((n, 2), np.float32)  # before the search's limits: what the joint critic values
        self._low_obs: list[np.ndarray] = [np.zeros((0, obs_mod.KERNEL_OBS), np.float32)] * n
        self._low_actions: list[np.ndarray] = [np.zeros(0, np.float32)] * n
        self._low_stored = 0  # kernel transitions stored by the episode (set when it ends)

    def _goal_to_action(self, goal: np.ndarray | float) -> np.ndarray | float:
        span = self.goal_hi - self.w_lo
        return np.clip((goal - self.w_lo) / span, 0.0, 1.0) if span > 0 else 0.0 * goal

    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, float]:
        mu = self.high.act(self._layer_obs[i])
        sigma = self.noise_scale()
        u = self.rng.random(2)
        a_act = truncated_normal(float(mu[0]), sigma, float(u[0]))
        a_goal = truncated_normal(float(mu[1]), sigma, float(u[1]))
        demo = self._demo_bits(i)
        if demo is not None:  # its activation bits (the bin centre) and, as the goal, its mean kernel bits
            a_act, a_goal = bits_to_action(demo[1], self.a_lo, self.a_hi), float(self._goal_to_action(float(demo[0].mean())))
        # the joint critic sees the activation decision as the centre of its bin: the reward depends on
        # the bin alone, and where in the bin the noise put the action would be input noise to fit
        self._chosen_actions[i] = (bits_to_action(action_to_bits(a_act, self.a_lo, self.a_hi), self.a_lo, self.a_hi), a_goal)
        a_bits, a_act = self._capped_act_bits(a_act, act_max)
        goal = self.w_lo + a_goal * (self.goal_hi - self.w_lo)
        if goal > goal_max:
            goal, a_goal = goal_max, float(self._goal_to_action(goal_max))
        self._high_actions[i] = (a_act, a_goal)
        return a_bits, goal

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        x = self._kernel_obs_static(i)
        x[:, obs_mod.COL_GOAL] = self._norm_w(self._goals[i])
        u = self.rng.random(len(x))
        actions, bits = run_kernel_policy(
            self.low.actor_weights(),
            x,
            u,
            self.noise_scale() * self.config.kernel_noise,
            self.w_lo,
            self.w_map_hi,
            w_max,
            bits_sum_max,
            self.w_hi,
            goal=float(self._goals[i]),
            forced=None if self._demo is None else self._demo_bits(i)[0],
        )
        self._low_obs[i], self._low_actions[i] = x, actions
        return bits

    def _finish(self, reward: float, w_bits: list[np.ndarray], a_bits: np.ndarray) -> dict[str, float]:
        achieved = np.array([float(b.mean()) for b in w_bits])
        goals = np.array(self._goals, np.float64)
        if self.config.joint_critic:
            self._store_joint_steps(reward, achieved)
        else:  # HAQ's: the actions as applied (the search may have lowered bits after the agent chose them)
            actions = self._high_actions.copy()
            actions[:, 0] = self._applied_act_actions(actions[:, 0], a_bits)
            if self.config.relabel:
                actions[:, 1] = self._goal_to_action(achieved)
            self._store_layer_steps(self.high, actions, reward)

        # low level: shaped reward per layer, one-step transitions, a uniform subsample of the kernels
        goal_error = np.abs(goals - achieved) / max(self.w_hi - self.w_lo, 1)
        goal_reward = (1.0 - self.config.zeta) * -goal_error  # the zeta * R_ext part is added when sampled
        low_obs = np.concatenate(self._low_obs)
        low_act = self._applied_kernel_actions(self._low_actions, w_bits)[:, None]
        low_rew = np.repeat(goal_reward, self.spec.c_out)
        idx = self._kernel_sample(len(low_obs))
        m = len(idx)
        self._low_stored = m
        self.low.buffer.add(low_obs[idx], low_act[idx], low_rew[idx], np.full(m, reward), low_obs[idx], np.ones(m, np.float32))
        return {"goal_error": float(goal_error.mean()), "mean_weight_bits": float(np.concatenate(w_bits).mean())}

    def _store_joint_steps(self, reward: float, achieved: np.ndarray) -> None:
        """One terminal step per layer; its context: every other layer's decision, then its own slot (one-hot).

        The decisions as made, not as the search's limits left them: under a budget, what one layer
        takes limits the layers after it, and a critic told the limited outcomes would not see that
        cost of a layer's action.
        """
        n = self.spec.n_layers
        joint = self._chosen_actions.copy()
        if self.config.relabel:
            joint[:, 1] = self._goal_to_action(achieved)
        others = np.repeat(joint[None], n, 0)
        others[np.arange(n), np.arange(n)] = 0.0
        context = np.concatenate([others.reshape(n, -1), np.eye(n, dtype=np.float32)], 1)
        obs = self._layer_obs
        self.high.buffer.add(obs, joint, np.zeros(n), np.full(n, reward), obs, np.ones(n, np.float32), context)

    def learn(self) -> dict[str, float]:
        # the controllers share nothing but the random generator: draw both minibatch plans here,
        # then update them side by side
        hi_batches = self.high.draw_batches(self._layer_updates())
        lo_batches = self.low.draw_batches(self._kernel_updates(self._low_stored))
        baseline, scale, clip = self._update_args()
        # the shaped reward mixes the goal term and the extrinsic reward (minus the baseline) in the
        # reward's own units, as the paper writes it: standardising the extrinsic part would change
        # what zeta means (standardising both was less stable on the synthetic task)
        hi, lo = side_by_side(
            lambda: self.high.learn_from(hi_batches, baseline, scale, clip),
            lambda: self.low.learn_from(lo_batches, baseline, 1.0, math.inf),
        )
        return {
            "high_critic_loss": hi["critic_loss"],
            "high_actor_loss": hi["actor_loss"],
            "low_critic_loss": lo["critic_loss"],
            "low_actor_loss": lo["actor_loss"],
        }

    def _state(self) -> dict:
        return {"high": self.high.state_dict(), "low": self.low.state_dict()}

    def _load(self, state: dict) -> None:
        self.high.load_state_dict(state["high"])
        self.low.load_state_dict(state["low"])


def _slotted(n: int, k: int) -> CriticInput:
    """Critic input of a joint step: the context's [n, k] decisions with the step's own action written
    into its slot (the one-hot after them), so that every layer's step of an episode shows the critic
    the same joint decision. The layer's observation is left out: given the decisions, it adds nothing."""

    def build(obs: torch.Tensor, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        others, own = context[:, : n * k].view(-1, n, k), context[:, n * k :]
        return (others + own[:, :, None] * actions[:, None, :]).reshape(-1, n * k)

    return build


@AGENTS.register("autoq")
def _autoq(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    return HierarchicalAgent(spec, config, seed)


@AGENTS.register("hiro")
def _hiro(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    """The same agent with the plain HIRO intrinsic reward (zeta forced to 0)."""
    return HierarchicalAgent(spec, dataclasses.replace(config, zeta=0.0), seed, name="hiro")
