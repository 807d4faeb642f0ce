"""The replay buffer every DDPG learner stores its transitions in, and the typed batches it samples.

Storage and sampling only (stable-baselines3's ``common/buffers.py``): a ring of NumPy arrays that can
forget all but the transitions of the last few episodes; batches come out as a :class:`ReplaySamples`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class ReplaySamples(NamedTuple):
    """A minibatch of transitions, as float32 tensors with the batch dimension first."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor  # [B, 1] the part of the reward fixed when stored (e.g. the goal term)
    ext_rewards: torch.Tensor  # [B, 1] the raw extrinsic episode reward, standardised when sampled
    next_obs: torch.Tensor
    dones: torch.Tensor  # [B, 1]; 1 where the critic target does not bootstrap
    context: torch.Tensor  # [B, context_dim] what only the critic sees (empty without context)


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
