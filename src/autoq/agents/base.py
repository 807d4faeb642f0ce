"""The agent interface the search drives, the network description agents observe, and the registry.

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
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, NamedTuple, Sequence

import numpy as np
import torch

from autoq.errors import AutoQError
from autoq.utils.registry import Registry

from . import observations as obs_mod
from .ddpg import DDPG, NoiseSchedule, Prior
from .presets import PRESETS
from .squeeze import squeeze_to_sum

STATE_VERSION = 3


def _opt(default: object, help: str, **kw: Any) -> Any:
    """A dataclass field with its one-line documentation (the search's command line shows it)."""
    return dataclasses.field(default=default, metadata={"help": help, **kw})


@dataclass
class AgentConfig:
    """Every hyperparameter of the agents.

    The defaults are this project's tuned values; ``preset="paper"`` gives the paper's (presets.py),
    through :func:`~autoq.agents.presets.apply_preset` (the search applies it before building this).
    """

    preset: str | None = _opt(None, "start every agent setting from a named preset: paper (the AutoQ paper's values); other settings override it", choices=tuple(PRESETS))
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
    joint_critic: bool = _opt(True, "the high-level critic values the episode's joint decisions: every layer's activation and goal actions")
    relabel: bool = _opt(False, "HIRO relabeling: store high-level goals as the mean weight QBN actually achieved")
    goal_prior: bool = _opt(True, "the low-level actor outputs the goal's action plus a learned deviation (residual)")
    kernel_noise: float = _opt(0.1, "the low-level controller's exploration noise, as a fraction of the high-level one's")
    residual_penalty: float = _opt(100.0, "weight of the squared learned deviation from the goal prior in the low-level actor's loss")
    spread_prior: float = _opt(
        1.0, "the goal prior gives each kernel this times log2(its std / the layer's geometric-mean std) bits over the needed mean (0: even)"
    )
    goal_max: float = _opt(8.0, "upper end of the goal range (mean weight QBN of a layer)")
    action_max: int = _opt(8, "upper end of the kernel action map (weight QBN of a kernel)")
    layer_updates_per_episode: int | None = _opt(16, "updates of each layer-level learner per episode; None = one per layer (HAQ)")
    kernel_updates_per_episode: int | None = _opt(16, "updates of each kernel-level learner (LLC, flat) per episode; None = one per kernel transition stored")
    kernel_samples_per_episode: int | None = _opt(256, "kernel transitions stored per episode (uniform subsample); None = every kernel")
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
            (self.layer_updates_per_episode is None or self.layer_updates_per_episode >= 0, "layer_updates_per_episode must be non-negative"),
            (self.preset is None or self.preset in PRESETS, f"unknown preset {self.preset!r}; known: {', '.join(sorted(PRESETS))}"),
            (self.kernel_updates_per_episode is None or self.kernel_updates_per_episode >= 0, "kernel_updates_per_episode must be non-negative"),
            (self.kernel_samples_per_episode is None or self.kernel_samples_per_episode >= 1, "kernel_samples_per_episode must be at least 1"),
            (0 <= self.baseline_decay < 1, "baseline_decay must be in [0, 1)"),
            (self.preact_limit >= 0, "preact_limit must be non-negative"),
            (self.advantage_clip > 0, "advantage_clip must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise AutoQError(f"agent config: {message}")

    def noise_schedule(self) -> NoiseSchedule:
        return NoiseSchedule(self.noise, self.warmup_episodes, self.noise_decay)


@dataclass(frozen=True)
class KernelLimits:
    """Limits the search imposes on one layer's kernel QBNs (e.g. to stay within a budget).

    ``w_max``: largest QBN of any kernel (None: the spec's maximum). ``bits_sum_max``: largest sum of
    the layer's kernel QBNs (None: no limit); agents enforce it kernel by kernel, so that kernel j gets
    at most ``bits_sum_max - (sum so far) - (kernels left after j) * w_min``.
    """

    w_max: int | None = None
    bits_sum_max: int | None = None


class LayerAction(NamedTuple):
    """What an agent decides for a layer before its kernels: activation QBN and goal (mean weight QBN).

    ``goal`` is None for agents that do not plan a layer's weight bits ahead (flat kernel-wise, random).
    """

    act_bits: int
    goal: float | None


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """The quantizable layers as agents see them: shapes, QBN ranges and normalised static features."""

    names: tuple[str, ...]
    c_out: tuple[int, ...]
    layer_features: np.ndarray  # [L, len(LAYER_STATIC)], min-max normalised
    kernel_features: tuple[np.ndarray, ...]  # per layer [c_out, len(KERNEL_STATIC)]
    w_range: tuple[int, int] = (1, 8)
    a_range: tuple[int, int] = (2, 8)

    @classmethod
    def from_layers(
        cls,
        layers: Sequence,
        kernel_stats: Sequence[np.ndarray],
        w_range: tuple[int, int] = (1, 8),
        a_range: tuple[int, int] = (2, 8),
    ) -> "NetworkSpec":
        """Build from :class:`~autoq.quant.discovery.LayerInfo` objects and per-kernel weight statistics.

        ``kernel_stats[i]`` is a [c_out, 3] array of each kernel's std, mean |w| and max |w|.
        """
        if len(layers) == 0:
            raise AutoQError("the model has no quantizable layers (Conv2d or Linear)")
        if len(kernel_stats) != len(layers):
            raise ValueError(f"{len(kernel_stats)} kernel-statistics arrays for {len(layers)} layers")
        for layer, stats in zip(layers, kernel_stats):
            if np.shape(stats) != (layer.c_out, 3):
                raise ValueError(f"layer {layer.name}: kernel stats of shape {np.shape(stats)}, expected ({layer.c_out}, 3)")
        for label, (lo, hi), least in (("weight", w_range, 0), ("activation", a_range, 1)):
            if not (least <= lo <= hi):  # a 0-bit weight kernel is pruned; activations need a bit
                raise AutoQError(f"{label} QBN range {lo}..{hi} is empty or below {least} bit")
        return cls(
            names=tuple(layer.name for layer in layers),
            c_out=tuple(int(layer.c_out) for layer in layers),
            layer_features=obs_mod.static_layer_features(list(layers)),
            kernel_features=tuple(obs_mod.static_kernel_features(list(kernel_stats))),
            w_range=(int(w_range[0]), int(w_range[1])),
            a_range=(int(a_range[0]), int(a_range[1])),
        )

    @property
    def n_layers(self) -> int:
        return len(self.c_out)

    @property
    def n_kernels(self) -> int:
        return int(sum(self.c_out))


# continuous action <-> bits --------------------------------------------------------------------------
def action_to_bits(a: float, lo: int, hi: int) -> int:
    """The paper's map ``round(lo - 0.5 + a * (hi - lo + 1))`` clamped to [lo, hi], with equal-width bins.

    ``floor(lo + a * n)`` equals that rounding except exactly on bin edges, where it always rounds up
    (Python's round-half-to-even would make alternate bins wider).
    """
    return min(max(int(math.floor(lo + a * (hi - lo + 1))), lo), hi)


def bits_to_action(bits: float | np.ndarray, lo: int, hi: int) -> float | np.ndarray:
    """Centre of the action bin that maps to ``bits`` (a fractional mean maps proportionally); elementwise on arrays."""
    if isinstance(bits, np.ndarray):
        return np.clip((bits - lo + 0.5) / (hi - lo + 1), 0.0, 1.0)
    return min(max((bits - lo + 0.5) / (hi - lo + 1), 0.0), 1.0)


def enforce_limits(desired: np.ndarray, w_min: int, w_max: int, bits_sum_max: int | None, priority: np.ndarray | None = None) -> np.ndarray:
    """Clip desired kernel QBNs to ``w_max``, then lower them to the layer's bit-sum limit.

    The kernels of lowest ``priority`` lose their bits first (see :func:`~autoq.agents.squeeze.squeeze_to_sum`;
    None: the last kernels by index).
    """
    bits = np.minimum(np.asarray(desired, np.int64), w_max)
    return squeeze_to_sum(bits, w_min, bits_sum_max, priority)


class Agent:
    """Base class: call-order bookkeeping, limits, reward baseline, generators and save/load."""

    name: ClassVar[str] = "agent"

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

    def begin_episode(self, explore: bool = True) -> None:
        """Start an episode; ``explore=False`` gives a greedy one (no noise) that is not learned from."""
        if self._in_episode:
            raise RuntimeError("begin_episode called twice without end_episode")
        self._reset_episode()
        self._explore = bool(explore)
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


AgentFactory = Callable[[NetworkSpec, AgentConfig, int], Agent]
AGENTS: Registry[AgentFactory] = Registry("agent")


def create_agent(name: str, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> Agent:
    """Instantiate a registered agent (names: :func:`list_agents`)."""
    return AGENTS.get(name)(spec, config or AgentConfig(), seed)


def list_agents(pattern: str | None = None) -> list[str]:
    """Registered agent names, optionally filtered by a glob pattern."""
    return AGENTS.names(pattern)
