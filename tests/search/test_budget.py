"""Budgets: parsing, the per-layer limits that keep an episode feasible, and the final lowering sweep."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq.errors import AutoQError
from autoq.search.budget import (
    BudgetSpec,
    BudgetTracker,
    describe,
    lower_lowest_ranked,
    lowering_sweep,
    rank_lowest_first,
)


@pytest.mark.parametrize(
    "text, metric, value, relative",
    [
        ("latency=0.4", "latency", 0.4, True),
        ("latency=3ms", "latency", 3e-3, False),
        ("energy=2mJ", "energy", 2e-3, False),
        ("size=1MB", "size", 8e6, False),
        ("area=0.9", "area", 0.9, True),
        (" latency = 250us ", "latency", 250e-6, False),
    ],
)
def test_parse(text, metric, value, relative):
    spec = BudgetSpec.parse(text)
    assert spec.metric == metric and spec.value == pytest.approx(value) and spec.relative == relative


@pytest.mark.parametrize(
    "text, message",
    [
        ("speed=0.5", "write METRIC=VALUE"),
        ("latency=0", "must be positive"),
        ("latency=3parsecs", "unknown unit 'parsecs' for latency; units: s, ms, us"),
        ("area=3mJ", "unknown unit 'mJ' for area"),
        ("latency", "write METRIC=VALUE"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(AutoQError, match=message):
        BudgetSpec.parse(text)


def test_describe():
    assert describe("latency", 3e-3) == "3ms" and describe("energy", 2.5e-3) == "2.5mJ" and describe("area", 0.5) == "0.5"


def tile_cost(tile: int):
    """A toy layer cost like the temporal design: tiles run at their widest kernel, times activation bits."""

    def cost(i, w, a):
        w = np.sort(np.asarray(w))[::-1]
        pad = (-len(w)) % tile
        w = np.concatenate([w, np.zeros(pad, dtype=w.dtype)]).reshape(-1, tile)
        return float(w.max(axis=1).sum() * a * (i + 1))

    return cost


@settings(max_examples=60, deadline=None)
@given(
    c_out=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_tracker_limits_then_sweep_meet_the_budget(c_out, frac, seed):
    rng = np.random.default_rng(seed)
    cost = tile_cost(4)
    n = len(c_out)
    w_min, a_min = [1] * n, [2] * n
    minimum = sum(cost(i, np.ones(c), 2) for i, c in enumerate(c_out))
    maximum = sum(cost(i, np.full(c, 8), 8) for i, c in enumerate(c_out))
    limit = minimum + frac * (maximum - minimum)
    tracker = BudgetTracker(cost, c_out, limit, w_min, a_min)
    assert tracker.minimum == pytest.approx(minimum)
    w_bits, a_bits = [], []
    for i, c in enumerate(c_out):
        a = int(rng.integers(2, tracker.act_max(i, 8) + 1))
        w_top, total = tracker.weight_limits(i, a, 8)
        # an agent enforcing the limits sequentially, choosing at random
        w = np.empty(c, dtype=np.int64)
        used = 0
        for j in range(c):
            cap = min(w_top, total - used - (c - j - 1) * 1)
            w[j] = rng.integers(1, max(1, cap) + 1)
            used += w[j]
        assert w.sum() <= total and w.max() <= w_top
        fitted, a2, steps = tracker.fit(i, w, a)
        assert (steps == 0) == (fitted.tolist() == w.tolist() and a2 == a)
        assert cost(i, fitted, a2) <= tracker.room(i) * (1 + 1e-9) or fitted.max() == 1 and a2 == 2
        tracker.commit(i, fitted, a2)
        w_bits.append(fitted)
        a_bits.append(a2)
    # every layer fitted exactly: the final sweep has nothing to do
    assert lowering_sweep(cost, w_bits, a_bits, limit, w_min, a_min) == 0
    total_cost = sum(cost(i, w, a) for i, (w, a) in enumerate(zip(w_bits, a_bits)))
    assert total_cost <= limit * (1 + 1e-9)
    assert all(w.min() >= 1 for w in w_bits) and all(a >= 2 for a in a_bits)


def test_sweep_lowers_costliest_layer_first_and_its_lowest_ranked_kernel():
    cost = tile_cost(1)
    w_bits, a_bits = [np.array([2, 2]), np.array([8, 5])], [2, 2]
    limit = cost(0, w_bits[0], 2) + cost(1, np.array([8, 4]), 2)
    steps = lowering_sweep(cost, w_bits, a_bits, limit, [1, 1], [2, 2])
    assert steps == 1 and w_bits[1].tolist() == [8, 4] and w_bits[0].tolist() == [2, 2]


def test_sweep_lowers_activations_once_the_kernels_are_at_their_minimum():
    cost = tile_cost(1)
    w_bits, a_bits = [np.array([1, 1])], [6]
    steps = lowering_sweep(cost, w_bits, a_bits, cost(0, np.array([1, 1]), 4), [1], [2])
    assert steps == 2 and a_bits == [4]


def test_rank_and_lowering_order():
    w = np.array([5, 3, 8, 3, 6])
    assert rank_lowest_first(w).tolist() == [3, 1, 0, 4, 2]  # fewest bits first, the later of equals first
    assert lower_lowest_ranked(w, 2, 0).tolist() == w.tolist()
    assert lower_lowest_ranked(w, 2, 1).tolist() == [5, 3, 8, 2, 6]
    assert lower_lowest_ranked(w, 2, 3).tolist() == [4, 2, 8, 2, 6]
    assert lower_lowest_ranked(w, 2, 100).tolist() == [2] * 5


def test_fit_keeps_a_spread_choice_that_fits_and_trims_the_lowest_ranked_kernels_of_one_that_does_not():
    cost = tile_cost(4)
    spread = np.array([8, 8, 7, 7, 3, 3, 2, 2])  # two tiles: 8 + 3 = 11 tile-bits (its mean would say 10)
    exact = cost(0, spread, 2)
    tracker = BudgetTracker(cost, [8], exact, [1], [2])
    w, a, steps = tracker.fit(0, spread, 2)
    assert (w.tolist(), a, steps) == (spread.tolist(), 2, 0)
    # one tile-bit less: the fewest decrements of the lowest-ranked kernels, the top tile untouched
    tracker = BudgetTracker(cost, [8], exact - 2, [1], [2])
    w, a, steps = tracker.fit(0, spread, 2)
    assert w.tolist() == [8, 8, 7, 7, 2, 1, 1, 1] and a == 2 and steps == 5
    assert cost(0, w, 2) <= exact - 2 < cost(0, lower_lowest_ranked(spread, 1, steps - 1), 2)
    # the even-spread sum limit lets this choice through: only fit sees its tiles
    _, total = BudgetTracker(cost, [8], exact - 2, [1], [2]).weight_limits(0, 2, 8)
    assert total >= spread.sum()


def test_sweep_refuses_an_impossible_budget():
    cost = tile_cost(1)
    with pytest.raises(AutoQError, match="cannot be met"):
        lowering_sweep(cost, [np.array([1])], [2], 0.5, [1], [2])
