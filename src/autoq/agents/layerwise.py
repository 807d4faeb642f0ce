"""Layer-wise DDPG, the HAQ baseline: one step per layer sets its weight QBN (all kernels equal) and
its activation QBN.

Observes the layer observation (observations.py); its transitions are HAQ's: every step gets the
episode's extrinsic reward minus the moving-average baseline, bootstraps from the next layer's step
with ``discount``, and the last step is terminal.
"""

from __future__ import annotations

import numpy as np

from . import observations as obs_mod
from .actions import action_to_bits, bits_to_action
from .base import Agent
from .config import AgentConfig
from .noise import truncated_normal
from .registry import AGENTS
from .spec import NetworkSpec
from .squeeze import enforce_limits


class LayerwiseAgent(Agent):
    """HAQ: one DDPG, a 2-d action (weight QBN, activation QBN) per layer."""

    name = "haq"
    learns_from_demonstrations = True

    def __init__(self, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> None:
        super().__init__(spec, config, seed)
        self.ddpg = self._make_ddpg(obs_mod.LAYER_OBS, 2)

    def _reset_episode(self) -> None:
        super()._reset_episode()
        self._actions = np.zeros((self.spec.n_layers, 2), np.float32)
        self._layer_w = np.zeros(self.spec.n_layers, np.int64)

    def _act_layer(self, i: int, act_max: int, goal_max: float) -> tuple[int, float]:
        mu = self.ddpg.act(self._layer_obs[i])
        sigma = self.noise_scale()
        u = self.rng.random(2)
        a_w = truncated_normal(float(mu[0]), sigma, float(u[0]))
        a_a = truncated_normal(float(mu[1]), sigma, float(u[1]))
        demo = self._demo_bits(i)
        if demo is not None:  # one width per layer: the demonstration's mean kernel bits, rounded
            a_w = bits_to_action(int(round(float(demo[0].mean()))), self.w_lo, self.w_map_hi)
            a_a = bits_to_action(demo[1], self.a_lo, self.a_hi)
        w_bits = action_to_bits(a_w, self.w_lo, self.w_map_hi)
        w_cap = max(self.w_lo, int(np.floor(goal_max + 1e-9)))
        if w_bits > w_cap:
            w_bits, a_w = w_cap, bits_to_action(w_cap, self.w_lo, self.w_map_hi)
        a_bits, a_a = self._capped_act_bits(a_a, act_max)
        self._actions[i] = (a_w, a_a)
        self._layer_w[i] = w_bits
        return a_bits, float(w_bits)

    def _act_kernels(self, i: int, w_max: int, bits_sum_max: int | None) -> np.ndarray:
        return enforce_limits(np.full(self.spec.c_out[i], self._layer_w[i]), self.w_lo, w_max, bits_sum_max)

    def _finish(self, reward: float, w_bits: list[np.ndarray], a_bits: np.ndarray) -> dict[str, float]:
        actions = self._actions.copy()
        for i in range(self.spec.n_layers):  # store the actions as applied where limits or the search lowered bits
            if not np.array_equal(w_bits[i], np.full(len(w_bits[i]), self._layer_w[i])):
                actions[i, 0] = bits_to_action(float(w_bits[i].mean()), self.w_lo, self.w_map_hi)
        actions[:, 1] = self._applied_act_actions(actions[:, 1], a_bits)
        self._store_layer_steps(self.ddpg, actions, reward)
        return {"mean_weight_bits": float(np.concatenate(w_bits).mean())}

    def learn(self) -> dict[str, float]:
        return self.ddpg.update(self._layer_updates(), *self._update_args())

    def _state(self) -> dict:
        return {"ddpg": self.ddpg.state_dict()}

    def _load(self, state: dict) -> None:
        self.ddpg.load_state_dict(state["ddpg"])


@AGENTS.register("haq")
def _haq(spec: NetworkSpec, config: AgentConfig, seed: int) -> Agent:
    return LayerwiseAgent(spec, config, seed)
