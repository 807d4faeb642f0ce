"""The actor network, its optional goal prior, and its weights as NumPy arrays for the per-kernel loop.

Networks only (stable-baselines3's ``common/policies.py``); :class:`~autoq.agents.ddpg.DDPG` owns
them with the critics, the optimisers and the update rule.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn


def _init_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's default Linear initialisation range, drawn from ``gen`` instead of the global RNG."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
        nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


def mlp(n_in: int, hidden: int, n_out: int, gen: torch.Generator, squash: bool) -> nn.Sequential:
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
        self.body = mlp(obs_dim, hidden, act_dim, gen, squash=False)
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
