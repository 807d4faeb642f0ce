"""Deep deterministic policy gradient (DDPG), written once and used by every learning agent.

One concern per module, as in stable-baselines3: :class:`~autoq.agents.buffers.ReplayBuffer`
(storage and sampling), :mod:`autoq.agents.noise` (exploration scale per episode and the
truncated-normal noise), :mod:`autoq.agents.policies` (the actor), and here :class:`DDPG` (actor,
critic, their target networks, optimisers and the update rule). The layer-wise
baseline, the flat kernel-wise baseline and both controllers of the hierarchical agent are instances
of :class:`DDPG`; they differ only in what they observe and in how their transitions are filled.

Randomness comes only from the generators the owning agent passes in (a NumPy generator for replay
sampling, a torch generator for weight initialisation), so the same seed gives the same run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .buffers import ReplayBuffer
from .policies import Actor, ActorWeights, Prior, mlp

CriticInput = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def concat_input(obs: torch.Tensor, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The default critic input: observation, context and action side by side."""
    return torch.cat([obs, context, actions], 1)


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
        self.critic = mlp(critic_dim, hidden, 1, torch_gen, squash=False)
        self.actor_target = Actor(obs_dim, hidden, act_dim, torch_gen, prior)
        self.critic_target = mlp(critic_dim, hidden, 1, torch_gen, squash=False)
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
                np.ascontiguousarray(w[0].T),
                b[0],
                np.ascontiguousarray(w[1]),
                b[1],
                np.ascontiguousarray(w[2]),
                b[2],
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

    def learn_from(
        self, batches: np.ndarray, baseline: float = 0.0, scale: float = 1.0, clip: float = math.inf
    ) -> dict[str, float]:
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
