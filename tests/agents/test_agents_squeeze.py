"""A layer's bit-sum limit is met by lowering the kernels the controller ranked least important first."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq.agents import enforce_limits
from autoq.agents import observations as obs_mod
from autoq.agents.kernel_policy import run_kernel_policy
from autoq.agents.policies import ActorWeights
from autoq.agents.squeeze import squeeze_to_sum


def test_lowest_priority_kernels_lose_their_bits_first():
    bits = np.array([6, 6, 6, 6])
    out = squeeze_to_sum(bits, 2, 17, priority=np.array([0.9, 0.1, 0.5, 0.3]))
    # 7 bits too many: kernel 1 (lowest) down to 2 (-4), then kernel 3 (next lowest) loses 3
    np.testing.assert_array_equal(out, [6, 2, 6, 3])


def test_without_priority_the_last_kernels_by_index_are_lowered():
    np.testing.assert_array_equal(squeeze_to_sum(np.array([5, 5, 5]), 1, 9), [5, 3, 1])
    np.testing.assert_array_equal(squeeze_to_sum(np.array([5, 5, 5]), 1, None), [5, 5, 5])


def test_priority_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="priority"):
        squeeze_to_sum(np.array([5, 5, 5]), 1, 4, priority=np.zeros(2))


@settings(max_examples=300, deadline=None)
@given(
    desired=st.lists(st.integers(1, 8), min_size=1, max_size=20),
    slack=st.integers(0, 60),
    seed=st.integers(0, 1000),
)
def test_squeeze_meets_the_limit_and_respects_the_ranking(desired: list[int], slack: int, seed: int):
    bits, n = np.array(desired), len(desired)
    priority = np.random.default_rng(seed).random(n)
    out = enforce_limits(bits, 1, 8, n + slack, priority)
    assert out.min() >= 1 and np.all(out <= bits)
    assert out.sum() == min(bits.sum(), n + slack)  # lowered by exactly the excess
    lowered = out < bits
    if lowered.any():
        # every kernel ranked below a lowered one that kept bits above the minimum would contradict the ranking
        worst_kept = priority[lowered].max()
        assert np.all(out[priority < worst_kept] == 1)


def _ranking_actor(hidden: int = 4) -> ActorWeights:
    """An actor whose action rises with the kernel's std feature: the std ranks the kernels."""
    obs = obs_mod.KERNEL_OBS
    col = obs_mod.LAYER_OBS + obs_mod.KERNEL_STATIC.index("std")
    w1 = np.zeros((obs, hidden), np.float32)
    w1[col, 0] = 1.0
    w2 = np.eye(hidden, dtype=np.float32)
    w3 = np.zeros((1, hidden), np.float32)
    w3[0, 0] = 8.0
    return ActorWeights(
        w1, np.zeros(hidden, np.float32), w2, np.zeros(hidden, np.float32), w3, np.array([-4.0], np.float32), None
    )


def test_the_llc_squeezes_the_kernels_it_ranked_lowest_not_the_last_ones():
    n = 8
    std = np.array([0.9, 0.1, 0.6, 0.2, 0.7, 0.3, 0.95, 0.85], np.float32)  # the ranking, not the index order
    x = np.zeros((n, obs_mod.KERNEL_OBS), np.float32)
    x[:, obs_mod.LAYER_OBS + obs_mod.KERNEL_STATIC.index("std")] = std
    free_x = x.copy()
    _, free = run_kernel_policy(_ranking_actor(), free_x, np.full(n, 0.5), 0.0, 1, 8, 8, None, 8)
    limit = int(free.sum()) - 10
    actions, bits = run_kernel_policy(_ranking_actor(), x, np.full(n, 0.5), 0.0, 1, 8, 8, limit, 8)
    assert bits.sum() == limit
    lowered = np.flatnonzero(bits < free)
    kept = np.flatnonzero((bits == free) & (bits > 1))  # kernels that could have given bits but did not
    assert len(lowered) and len(kept)
    assert std[lowered].max() <= std[kept].min()  # only the least important lost bits
    assert bits[np.argmax(std)] == free[np.argmax(std)] and bits[-1] == free[-1]
    # the actions recorded are the ones applied: the centres of the lowered kernels' bins
    np.testing.assert_allclose(actions[lowered], (bits[lowered] - 1 + 0.5) / 8)
