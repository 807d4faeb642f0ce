"""The per-kernel acting loop shared by the low-level controller and the flat kernel-wise agent.

A ResNet-50 episode has about 26,000 kernel decisions, each depending on the previous ones (the
observation holds the previous kernel's QBN, the running mean and the mean still needed to meet
the goal), so they cannot be batched. The loop therefore runs the actor in NumPy on one sample at
a time, with the first layer's product for the static part of every observation computed in one
matrix product per layer.
"""

from __future__ import annotations

import math

import numpy as np

from . import observations as obs_mod
from .noise import truncated_normal
from .policies import ActorWeights
from .squeeze import BitCap


def run_kernel_policy(
    w: ActorWeights,
    x: np.ndarray,
    u: np.ndarray,
    sigma: float,
    lo: int,
    map_hi: int,
    w_max: int,
    bits_sum_max: int | None,
    norm_hi: int,
    goal: float | None = None,
    forced: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose the QBN of each kernel of one layer, in order.

    ``x``: [n, KERNEL_OBS] observations with the static and goal columns filled; the loop fills the
    dynamic ones (previous QBN, running mean, needed mean if ``goal`` is given) in place, so ``x``
    ends up holding what the actor saw. ``u``: n uniform draws for the truncated-normal noise of
    scale ``sigma``. Actions map to bits over [lo, map_hi]; bits are clipped to ``w_max``, and once
    every kernel has chosen, lowered to the layer's bit-sum limit taking bits from the kernels whose
    actions were lowest first (the controller's own ranking, not the kernels' order); the action
    of a lowered kernel is replaced by the centre of the bin it got (the action applied).
    ``norm_hi``: top of the range used to normalise
    bits in observations. ``forced``: bits to take instead of the actor's (a demonstration), each as
    the centre of its bin and within the same limits. Returns (actions float32 [n], bits int64 [n]).
    """
    n = len(x)
    actor = _KernelActor(w, x)
    levels = map_hi - lo + 1
    scale = 1.0 / max(norm_hi - lo, 1)
    actions = np.empty(n, np.float32)
    bits = np.empty(n, np.int64)
    cols = np.zeros((n, 3), np.float32)  # prev, running mean, needed mean
    used = 0
    prev = mean = 0.0
    for j in range(n):
        need = 0.0
        if goal is not None:
            need = min(max((goal * n - used) / (n - j), lo), norm_hi)
            need = (need - lo) * scale
        if forced is not None:  # a demonstration: its bits, as the centre of their bin
            b = min(max(int(forced[j]), lo), map_hi, w_max)
            a = (b - lo + 0.5) / levels
        else:
            a = truncated_normal(actor.mean(j, prev, mean, need), sigma, float(u[j]))
            b = min(max(int(math.floor(lo + a * levels)), lo), map_hi)
            if b > w_max:
                b = w_max
                a = (w_max - lo + 0.5) / levels
        actions[j] = a
        bits[j] = b
        cols[j] = (prev, mean, need)
        used += b
        prev = (b - lo) * scale
        mean = (used / (j + 1) - lo) * scale
    squeezed = BitCap(lo, w_max, bits_sum_max).apply(bits, priority=actions)
    lowered = squeezed != bits
    actions[lowered] = (squeezed[lowered] - lo + 0.5) / levels
    bits = squeezed
    x[:, obs_mod.COL_PREV] = cols[:, 0]
    x[:, obs_mod.COL_MEAN] = cols[:, 1]
    x[:, obs_mod.COL_NEED] = cols[:, 2]
    return actions, bits


class _KernelActor:
    """The actor on one kernel's observation, given the static part of every kernel's at once.

    The first layer's product for the static columns is one matrix product per layer; per kernel only
    the three dynamic columns (previous QBN, running mean, needed mean) are added.
    """

    def __init__(self, w: ActorWeights, x: np.ndarray) -> None:
        self.pre = x @ w.w1 + w.b1  # dynamic columns are zero here
        self.wp, self.wm, self.wn = w.w1[obs_mod.COL_PREV], w.w1[obs_mod.COL_MEAN], w.w1[obs_mod.COL_NEED]
        self.w2, self.b2, self.w3, self.b3 = w.w2, w.b2, w.w3[0], float(w.b3[0])
        self.p_col, self.p_alpha, self.p_beta, self.s_col, self.s_alpha, self.fixed_prior = _prior_terms(w, x)
        self.x = x
        self.h2 = np.empty_like(self.b2)

    def mean(self, j: int, prev: float, mean: float, need: float) -> float:
        """The action mean (after the sigmoid and the prior) of kernel ``j`` with these dynamic columns."""
        h = self.pre[j] + prev * self.wp
        h += mean * self.wm
        if need:
            h += need * self.wn
        np.maximum(h, 0.0, out=h)
        h2 = self.h2
        np.dot(self.w2, h, out=h2)
        h2 += self.b2
        np.maximum(h2, 0.0, out=h2)
        z = float(np.dot(self.w3, h2)) + self.b3
        if self.p_col == obs_mod.COL_NEED:
            p = self.p_alpha * need + self.p_beta
            if self.s_alpha:
                p += self.s_alpha * (float(self.x[j, self.s_col]) - 0.5)
            p = min(max(p, 1e-3), 1.0 - 1e-3)
            z += math.log(p / (1.0 - p))
        else:
            z += self.fixed_prior
        return 1.0 / (1.0 + math.exp(-z)) if z > -60.0 else 0.0


def _prior_terms(w: ActorWeights, x: np.ndarray) -> tuple[int, float, float, int, float, float]:
    """The actor's goal prior as plain numbers: ``(column, alpha, beta, spread column, spread alpha, fixed logit)``.

    A prior on the needed-mean column changes per kernel (the loop adds it); one on the goal column is
    the same for the whole layer (``fixed logit``); no prior gives column -1 and zeros.
    """
    if w.prior is None:
        return -1, 0.0, 0.0, -1, 0.0, 0.0
    p_col, p_alpha, p_beta, s_col, s_alpha = w.prior
    if p_col not in (obs_mod.COL_NEED, obs_mod.COL_GOAL):
        raise ValueError("the actor's prior must read the goal or the needed-mean column")
    fixed_prior = float(np.asarray(w.prior_logit(x[:1])).reshape(-1)[0]) if p_col == obs_mod.COL_GOAL else 0.0
    return p_col, p_alpha, p_beta, s_col, s_alpha, fixed_prior
