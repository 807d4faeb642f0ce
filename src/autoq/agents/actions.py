"""The map between an actor's continuous action in [0, 1] and a bit width, both ways."""

from __future__ import annotations

import math

import numpy as np


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
