"""The comparison's statistics: fronts, interpolation at equal accuracy and paired bootstrap intervals.

A strategy's result at one budget is a ``Cell``: per seed, the test images' correct / wrong vector and
the returned policy's latency and energy. A bootstrap resample draws images and seeds with replacement
and applies the same draw to every strategy, so that differences are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cell:
    """One strategy at one budget: ``correct[s, i]`` of seed s on test image i, costs per seed."""

    correct: np.ndarray  # (seeds, images) bool
    latency_s: np.ndarray  # (seeds,)
    energy_j: np.ndarray  # (seeds,)

    def accuracy(self, seeds: np.ndarray, images: np.ndarray) -> float:
        """Mean top-1 over the drawn seeds and images."""
        return float(self.correct[np.ix_(seeds, images)].mean())

    def cost(self, metric: str, seeds: np.ndarray) -> float:
        return float(getattr(self, metric)[seeds].mean())


@dataclass(frozen=True)
class Estimate:
    """A figure on the full sample and its 95 % bootstrap interval (NaN where a resample has no value)."""

    value: float
    low: float
    high: float

    @property
    def decided(self) -> str:
        """``"+"`` when the interval lies above 0, ``"-"`` below, ``"~"`` when it holds 0."""
        if self.low > 0:
            return "+"
        if self.high < 0:
            return "-"
        return "~"


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, accuracy) points no other point dominates, by increasing cost (and accuracy)."""
    out: list[tuple[float, float]] = []
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not out or acc > out[-1][1]:
            out.append((cost, acc))
    return out


def cost_at(points: list[tuple[float, float]], accuracy: float) -> float:
    """Cost a front needs for ``accuracy``, interpolated linearly between its points; NaN outside its range."""
    pts = front(points)
    if not pts or accuracy > pts[-1][1] or accuracy < pts[0][1]:
        return float("nan")
    accs = np.array([a for _, a in pts])
    costs = np.array([c for c, _ in pts])
    return float(np.interp(accuracy, accs, costs))


def ratio_at(a: list[tuple[float, float]], b: list[tuple[float, float]], accuracy: float) -> float:
    """``cost_a / cost_b - 1`` at ``accuracy`` on both fronts; NaN where either front does not span it."""
    ca, cb = cost_at(a, accuracy), cost_at(b, accuracy)
    return ca / cb - 1 if cb > 0 else float("nan")


def paired_bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], float], n_seeds: int, n_images: int, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """``statistic(seeds, images)`` on the full sample and its 95 % percentile interval over resamples
    that draw seeds and images with replacement."""
    rng = np.random.default_rng(seed)
    full = statistic(np.arange(n_seeds), np.arange(n_images))
    values = np.empty(resamples)
    for r in range(resamples):
        values[r] = statistic(rng.integers(0, n_seeds, n_seeds), rng.integers(0, n_images, n_images))
    values = values[~np.isnan(values)]
    if not values.size:
        return Estimate(full, float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(full, float(low), float(high))


def accuracy_difference(a: Cell, b: Cell, **kw) -> Estimate:
    """Test top-1 of ``a`` minus ``b`` (same budget), paired over seeds and images."""
    return paired_bootstrap(lambda s, i: a.accuracy(s, i) - b.accuracy(s, i), *a.correct.shape, **kw)


def cost_ratio_at_equal_accuracy(a: list[Cell], b: list[Cell], at: int, metric: str = "latency_s", **kw) -> Estimate:
    """``cost_a / cost_b - 1`` at the test accuracy of ``b[at]`` (b's returned policy at one budget), on
    the fronts of the cells ``a`` and ``b`` (one per budget, plus any shared anchor), paired over seeds
    and images."""

    def statistic(seeds: np.ndarray, images: np.ndarray) -> float:
        pa = [(c.cost(metric, seeds), c.accuracy(seeds, images)) for c in a]
        pb = [(c.cost(metric, seeds), c.accuracy(seeds, images)) for c in b]
        return ratio_at(pa, pb, pb[at][1])

    return paired_bootstrap(statistic, *a[0].correct.shape, **kw)
