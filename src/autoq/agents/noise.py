"""Exploration noise: its scale per episode and the truncated-normal draw in the unit action range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_STD_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)


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
