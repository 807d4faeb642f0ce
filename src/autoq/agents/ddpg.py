"""Deep deterministic policy gradient (DDPG), written once and used by every learning agent.

One concern per class, as in stable-baselines3: :class:`ReplayBuffer` (storage and sampling),
:class:`NoiseSchedule` (exploration scale per episode), :func:`truncated_normal` (exploration noise),
:class:`DDPG` (actor, critic, their target networks, optimisers and the update rule). The layer-wise
baseline, the flat kernel-wise baseline and both controllers of the hierarchical agent are instances
of :class:`DDPG`; they differ only in what they observe and in how their transitions are filled.

Randomness comes only from the generators the owning agent passes in (a NumPy generator for replay
sampling, a torch generator for weight initialisation), so the same seed gives the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

_STD_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)


class ReplaySamples(NamedTuple):
    """A minibatch of transitions, as float32 tensors with the batch dimension first."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor  # [B, 1] the part of the reward fixed when stored (e.g. the goal term)
    ext_rewards: torch.Tensor  # [B, 1] the raw extrinsic episode reward, standardised when sampled
    next_obs: torch.Tensor
    dones: torch.Tensor  # [B, 1]; 1 where the critic target does not bootstrap
    context: torch.Tensor  # [B, context_dim] what only the critic sees (empty without context)


CriticInput = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def concat_input(obs: torch.Tensor, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The default critic input: observation, context and action side by side."""
    return torch.cat([obs, context, actions], 1)


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions; the oldest are overwritten first.

    With ``max_adds``, sampling is further restricted to the transitions of the last ``max_adds``
    calls of :meth:`add` (agents add one episode at a time): on a small network a buffer of 2000
    transitions would hold hundreds of episodes, most of them from a long-gone policy.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, max_adds: int | None = None, context_dim: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.max_adds = max_adds
        self.recent: list[int] = []  # sizes of the last max_adds additions
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, act_dim), np.float32)
        self.rewards = np.zeros((capacity, 1), np.float32)
        self.ext_rewards = np.zeros((capacity, 1), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.dones = np.zeros((capacity, 1), np.float32)
        self.context = np.zeros((capacity, context_dim), np.float32)
        self.pos = 0
        self.size = 0

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        ext_rewards: np.ndarray,
        next_obs: np.ndarray,
        dones: np.ndarray,
        context: np.ndarray | None = None,
    ) -> None:
        """Append a batch of transitions (first dimension = transitions)."""
        n = len(obs)
        if n == 0:
            return
        if context is None:
            context = np.zeros((n, self.context.shape[1]), np.float32)
        arrays = [np.asarray(x) for x in (obs, actions, rewards, ext_rewards, next_obs, dones, context)]
        if n > self.capacity:  # only the newest `capacity` survive anyway
            arrays = [x[-self.capacity :] for x in arrays]
            n = self.capacity
        obs, actions, rewards, ext_rewards, next_obs, dones, context = arrays
        idx = (self.pos + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.actions[idx] = np.asarray(actions, np.float32).reshape(n, -1)
        self.rewards[idx, 0] = np.asarray(rewards, np.float32).reshape(n)
        self.ext_rewards[idx, 0] = np.asarray(ext_rewards, np.float32).reshape(n)
        self.next_obs[idx] = next_obs
        self.dones[idx, 0] = np.asarray(dones, np.float32).reshape(n)
        self.context[idx] = context
        self.pos = int((self.pos + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))
        if self.max_adds is not None:
            self.recent = (self.recent + [n])[-self.max_adds :]

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return self.size if self.max_adds is None else min(self.size, sum(self.recent))

    def draw(self, n_batches: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Positions ``[n_batches, batch_size]`` of uniform minibatches (with replacement, as HAQ does)
        drawn with ``rng`` from the sampleable transitions, one batch after the other."""
        n = len(self)
        rows = [rng.integers(0, n, size=batch_size) for _ in range(n_batches)]  # batch by batch: the stream update() always drew
        idx = np.stack(rows) if rows else np.zeros((0, batch_size), np.int64)
        if n < self.capacity or self.max_adds is not None:
            idx = (self.pos - 1 - idx) % self.capacity  # the newest n positions
        return idx

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplaySamples:
        """One uniform minibatch (see :meth:`draw`)."""
        return self.gather(self.draw(1, batch_size, rng)[0])

    def gather(self, idx: np.ndarray) -> ReplaySamples:
        """The transitions at buffer positions ``idx``."""
        return ReplaySamples(
            torch.from_numpy(self.obs[idx]),
            torch.from_numpy(self.actions[idx]),
            torch.from_numpy(self.rewards[idx]),
            torch.from_numpy(self.ext_rewards[idx]),
            torch.from_numpy(self.next_obs[idx]),
            torch.from_numpy(self.dones[idx]),
            torch.from_numpy(self.context[idx]),
        )

    def state_dict(self) -> dict:
        n = self.size
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "size": n,
            "recent": list(self.recent),
            # only the filled rows: a fresh buffer is mostly zeros
            "obs": torch.from_numpy(self.obs[:n].copy()),
            "actions": torch.from_numpy(self.actions[:n].copy()),
            "rewards": torch.from_numpy(self.rewards[:n].copy()),
            "ext_rewards": torch.from_numpy(self.ext_rewards[:n].copy()),
            "next_obs": torch.from_numpy(self.next_obs[:n].copy()),
            "dones": torch.from_numpy(self.dones[:n].copy()),
            "context": torch.from_numpy(self.context[:n].copy()),
        }

    def load_state_dict(self, state: dict) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"replay capacity {state['capacity']} in the state, {self.capacity} configured")
        n = int(state["size"])
        for key in ("obs", "actions", "rewards", "ext_rewards", "next_obs", "dones", "context"):
            arr = getattr(self, key)
            arr[:] = 0
            arr[:n] = state[key].numpy()
        self.pos, self.size = int(state["pos"]), n
        self.recent = [int(k) for k in state["recent"]]


@dataclass(frozen=True)
class NoiseSchedule:
    """Exploration scale per episode: ``initial`` for the first ``constant_episodes`` episodes, then
    multiplied by ``decay`` every episode (AutoQ: 100 episodes at 0.5, then decay 0.99)."""

    initial: float
    constant_episodes: int
    decay: float

    def __call__(self, episode: int) -> float:
        if episode < self.constant_episodes:
            return self.initial
        return self.initial * self.decay ** (episode - self.constant_episodes + 1)


def truncated_normal(mu: float, sigma: float, u: float) -> float:
    """Sample of N(mu, sigma) truncated to [0, 1], by inverting the CDF at the uniform draw ``u``.

    Inversion (rather than rejection) consumes exactly one uniform per action, so the random stream,
    and with it every later action, does not depend on how many draws a rejection loop needed.
    """
    if sigma <= 1e-6:
        return min(max(mu, 0.0), 1.0)
    lo = 0.5 * (1.0 + math.erf((0.0 - mu) / (sigma * _SQRT2)))
    hi = 0.5 * (1.0 + math.erf((1.0 - mu) / (sigma * _SQRT2)))
    p = lo + u * (hi - lo)
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return min(max(mu + sigma * _STD_NORMAL.inv_cdf(p), 0.0), 1.0)


def _init_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's default Linear initialisation range, drawn from ``gen`` instead of the global RNG."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
        nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


def _mlp(n_in: int, hidden: int, n_out: int, gen: torch.Generator, squash: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out)]
    if squash:
        layers.append(nn.Sigmoid())
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            _init_linear(m, gen)
    return net


def _logit(p: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    if isinstance(p, torch.Tensor):
        p = p.clamp(1e-3, 1.0 - 1e-3)
        return torch.log(p / (1.0 - p))
    p = np.clip(p, 1e-3, 1.0 - 1e-3)
    return np.log(p / (1.0 - p))


class Prior(NamedTuple):
    """A prior action read from observation columns: ``alpha * obs[col] + beta + spread_alpha * (obs[spread_col] - 0.5)``."""

    col: int
    alpha: float
    beta: float
    spread_col: int = -1
    spread_alpha: float = 0.0

    def action(self, obs: Any) -> Any:
        """The prior action ``[..., 1]`` of observations ``[..., obs_dim]`` (NumPy or torch)."""
        p = self.alpha * obs[..., self.col : self.col + 1] + self.beta
        if self.spread_alpha:
            p = p + self.spread_alpha * (obs[..., self.spread_col : self.spread_col + 1] - 0.5)
        return p


class Actor(nn.Module):
    """Two hidden ReLU layers and a sigmoid output, optionally residual around a prior action.

    With a prior, the output is ``sigmoid(mlp(obs) + logit(prior(obs)))``: it starts at the prior
    (the untrained MLP outputs about 0) and learns deviations from it. The low-level controller
    uses the goal as its prior, so it follows the high-level controller's goal from the first
    episode and learns how to spread the layer's bits over its kernels.
    """

    def __init__(self, obs_dim: int, hidden: int, act_dim: int, gen: torch.Generator, prior: Prior | None = None) -> None:
        super().__init__()
        self.body = _mlp(obs_dim, hidden, act_dim, gen, squash=False)
        self.prior = prior

    def preact_and_residual(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pre-sigmoid output and the network's own part of it (the deviation from the prior)."""
        residual = self.body(obs)
        return (residual if self.prior is None else residual + _logit(self.prior.action(obs))), residual

    def preact(self, obs: torch.Tensor) -> torch.Tensor:
        return self.preact_and_residual(obs)[0]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.preact(obs))


class ActorWeights(NamedTuple):
    """The actor's parameters as float32 NumPy arrays, for cheap single-sample acting.

    ``w1`` is [obs_dim, hidden] (input-major, so ``x @ w1``); ``w2`` is [hidden, hidden] in torch's
    [out, in] layout (so ``w2 @ h``); ``w3`` is [act_dim, hidden]. ``prior`` as in :class:`Actor`.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    prior: Prior | None

    def prior_logit(self, obs: np.ndarray) -> np.ndarray | float:
        """The prior's contribution to the pre-sigmoid output, [..., 1] (0 without a prior)."""
        if self.prior is None:
            return 0.0
        return _logit(self.prior.action(obs)).astype(np.float32)


class DDPG:
    """Actor-critic with target networks (soft update ``tau``), Adam optimisers and a replay buffer.

    Critic target: ``r + discount * (1 - done) * Q'(s', mu'(s'))`` with the step reward
    ``r = reward + ext_weight * clip((ext_reward - baseline) / scale, -clip, clip)``: extrinsic
    rewards are stored raw and standardised when sampled, with the owner's current running mean
    and std, so that old episodes are judged against the current reward level (as HAQ subtracts its
    moving average at sampling time) and catastrophic ones cannot dominate the critic's loss.
    Actor loss: ``-Q(s, mu(s))``. Actions live in [0, 1]^act_dim (sigmoid output); mapping them to
    bits is the agent's job.

    ``context_dim`` columns, stored with each transition, are seen by the critic only: a centralised
    critic (MADDPG, Lowe et al. 2017) that is told what else happened in the episode, so that it
    need not average over it. ``critic_input(obs, context, actions)`` builds the critic's input
    (default :func:`concat_input`; the critic's width is read from it); the actor's loss passes its
    own action through it the same way. A bootstrapped target reuses the transition's own context.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: int,
        actor_lr: float,
        critic_lr: float,
        tau: float,
        discount: float,
        batch_size: int,
        buffer_size: int,
        rng: np.random.Generator,
        buffer_episodes: int | None = None,
        torch_gen: torch.Generator,
        preact_limit: float | None = 3.0,
        ext_weight: float = 1.0,
        prior: Prior | None = None,
        residual_penalty: float = 0.0,
        context_dim: int = 0,
        critic_input: CriticInput = concat_input,
    ) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.residual_penalty = residual_penalty
        self.preact_limit = preact_limit
        self.ext_weight = ext_weight
        self.tau, self.discount, self.batch_size = tau, discount, batch_size
        self.rng = rng
        self.actor = Actor(obs_dim, hidden, act_dim, torch_gen, prior)
        self.critic_input = critic_input
        critic_dim = critic_input(torch.zeros(1, obs_dim), torch.zeros(1, context_dim), torch.zeros(1, act_dim)).shape[1]
        self.critic = _mlp(critic_dim, hidden, 1, torch_gen, squash=False)
        self.actor_target = Actor(obs_dim, hidden, act_dim, torch_gen, prior)
        self.critic_target = _mlp(critic_dim, hidden, 1, torch_gen, squash=False)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        for p in (*self.actor_target.parameters(), *self.critic_target.parameters()):
            p.requires_grad_(False)
        # the fused step is one kernel per optimiser instead of a dozen small ops per tensor: a
        # fifth less time per update at these sizes, where the ops' overhead rivals the matmuls
        self.actor_optim = torch.optim.Adam(self.actor.parameters(), lr=actor_lr, fused=True)
        self.critic_optim = torch.optim.Adam(self.critic.parameters(), lr=critic_lr, fused=True)
        self.buffer = ReplayBuffer(buffer_size, obs_dim, act_dim, max_adds=buffer_episodes, context_dim=context_dim)
        self.updates = 0
        self._np_actor: ActorWeights | None = None

    # acting -------------------------------------------------------------------------------------
    def actor_weights(self) -> ActorWeights:
        """NumPy copy of the current actor, refreshed after every update or load."""
        if self._np_actor is None:
            lin = [m for m in self.actor.body if isinstance(m, nn.Linear)]
            w = [m.weight.detach().numpy().astype(np.float32, copy=True) for m in lin]
            b = [m.bias.detach().numpy().astype(np.float32, copy=True) for m in lin]
            self._np_actor = ActorWeights(
                np.ascontiguousarray(w[0].T), b[0], np.ascontiguousarray(w[1]), b[1], np.ascontiguousarray(w[2]), b[2],
                self.actor.prior,
            )
        return self._np_actor

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actor output mu(obs) in [0, 1] for one observation [obs_dim] or a batch [B, obs_dim]."""
        w = self.actor_weights()
        x = np.asarray(obs, np.float32)
        h = np.maximum(x @ w.w1 + w.b1, 0.0)
        h = np.maximum(h @ w.w2.T + w.b2, 0.0)
        z = h @ w.w3.T + w.b3 + w.prior_logit(x)
        return 1.0 / (1.0 + np.exp(-z))

    # learning -----------------------------------------------------------------------------------
    def draw_batches(self, n_updates: int) -> np.ndarray:
        """Replay positions ``[n, batch_size]`` of ``n_updates`` minibatches, none until the buffer holds one batch.

        Drawing is the only random part of an update: drawn first, in a fixed order, the updates of
        several learners may then run at once and stay reproducible.
        """
        if n_updates <= 0 or len(self.buffer) < self.batch_size:
            return np.zeros((0, self.batch_size), np.int64)
        return self.buffer.draw(n_updates, self.batch_size, self.rng)

    def update(self, n_updates: int, baseline: float = 0.0, scale: float = 1.0, clip: float = math.inf) -> dict[str, float]:
        """Run up to ``n_updates`` minibatch updates (none until the buffer holds one batch).

        ``baseline``, ``scale``, ``clip`` standardise the stored extrinsic rewards (see the class doc).
        Returns the mean critic and actor losses (NaN when nothing was updated).
        """
        return self.learn_from(self.draw_batches(n_updates), baseline, scale, clip)

    def learn_from(self, batches: np.ndarray, baseline: float = 0.0, scale: float = 1.0, clip: float = math.inf) -> dict[str, float]:
        """One update per row of replay positions from :meth:`draw_batches` (see :meth:`update`)."""
        n_updates = len(batches)
        if n_updates == 0:
            return {"critic_loss": float("nan"), "actor_loss": float("nan")}
        c_sum = a_sum = 0.0
        critic_params = list(self.critic.parameters())
        for idx in batches:
            s = self.buffer.gather(idx)
            r = s.rewards
            if self.ext_weight != 0.0:
                r = r + self.ext_weight * ((s.ext_rewards - baseline) / scale).clamp(-clip, clip)
            if bool((s.dones >= 1.0).all()) or self.discount == 0.0:
                target = r  # nothing to bootstrap: skip the target networks' forward
            else:
                with torch.no_grad():
                    nxt = self.critic_input(s.next_obs, s.context, self.actor_target(s.next_obs))
                    target = r + self.discount * (1.0 - s.dones) * self.critic_target(nxt)
            q = self.critic(self.critic_input(s.obs, s.context, s.actions))
            critic_loss = torch.nn.functional.mse_loss(q, target)
            self.critic_optim.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optim.step()

            for p in critic_params:  # the actor step must not leave gradients on the critic
                p.requires_grad_(False)
            z, residual = self.actor.preact_and_residual(s.obs)
            actor_loss = -self.critic(self.critic_input(s.obs, s.context, torch.sigmoid(z))).mean()
            if self.residual_penalty and self.actor.prior is not None:
                # the prior is worth more than a critic's noisy gradient: leave it only where the critic insists
                actor_loss = actor_loss + self.residual_penalty * (residual**2).mean()
            if self.preact_limit is not None:
                # keep the actor out of the sigmoid's flat tails: once saturated (e.g. at the top QBN
                # while the critic still slopes upwards) its gradient vanishes and it cannot come back
                actor_loss = actor_loss + (torch.relu(z.abs() - self.preact_limit) ** 2).mean()
            self.actor_optim.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optim.step()
            for p in critic_params:
                p.requires_grad_(True)

            with torch.no_grad():
                torch._foreach_lerp_(list(self.actor_target.parameters()), list(self.actor.parameters()), self.tau)
                torch._foreach_lerp_(list(self.critic_target.parameters()), critic_params, self.tau)
            c_sum += critic_loss.item()
            a_sum += actor_loss.item()
        self.updates += n_updates
        self._np_actor = None
        return {"critic_loss": c_sum / n_updates, "actor_loss": a_sum / n_updates}

    # state --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optim": self.actor_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "buffer": self.buffer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_optim.load_state_dict(state["actor_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        self.buffer.load_state_dict(state["buffer"])
        self.updates = int(state["updates"])
        self._np_actor = None
