"""The integer program, the candidates and the sensitivity behind ``--agent ilp``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autoq.errors import AutoQError
from autoq.hardware import CostModel
from autoq.search.candidates import candidate_costs, kernel_groups, layer_candidates, pareto_mask
from autoq.search.program import choose, solve_choice
from autoq.search.rollout import SearchSpace
from autoq.search.sensitivity import Sensitivity


def test_solve_choice_matches_brute_force():
    rng = np.random.default_rng(0)
    values = [rng.random(5) for _ in range(4)]
    costs = [rng.random(5) for _ in range(4)]
    room = 1.6
    picks = solve_choice(values, costs, room)
    best = min(
        (sum(v[j] for v, j in zip(values, js)), js)
        for js in itertools.product(range(5), repeat=4)
        if sum(c[j] for c, j in zip(costs, js)) <= room
    )
    assert tuple(picks) == best[1]
    assert sum(c[j] for c, j in zip(costs, picks)) <= room


def test_solve_choice_without_room_is_each_groups_minimum():
    values = [np.array([3.0, 1.0, 2.0]), np.array([0.5, 0.7])]
    assert solve_choice(values) == [1, 0]


def test_solve_choice_refuses_an_impossible_room():
    with pytest.raises(AutoQError, match="no solution"):
        solve_choice([np.array([1.0, 2.0])], [np.array([2.0, 3.0])], 1.0)


def test_pareto_mask_drops_dominated_candidates():
    sens = np.array([5.0, 4.0, 6.0, 1.0, 1.0])
    cost = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    assert pareto_mask(sens, cost).tolist() == [True, True, False, True, False]


def test_kernel_groups_rank_kernels_by_sensitivity():
    kcost = np.zeros((6, 9))
    kcost[:, 4] = [0.1, 0.9, 0.5, 0.3, 0.8, 0.2]
    groups = kernel_groups(kcost, range(2, 9), 3)
    assert [g.tolist() for g in groups] == [[1, 4], [2, 3], [5, 0]]
    assert len(kernel_groups(kcost, range(2, 9), 10)) == 6


@pytest.mark.parametrize("hw", ["temporal", "spatial"])
@pytest.mark.parametrize("sort_kernels", [True, False])
def test_candidate_costs_are_layer_costs_and_add_up_to_the_network(hw, sort_kernels, default_cache):
    from autoq.engine.setup import build_model

    layers = build_model().layers
    cm = CostModel(layers, hw, sort_kernels=sort_kernels)
    rng = np.random.default_rng(1)
    w = [rng.integers(1, 9, l.c_out) for l in layers]
    a = rng.integers(2, 9, len(layers)).tolist()
    rows = [candidate_costs(cm, i, w[i][None, :], np.array([a[i]]))[0] for i in range(len(layers))]
    for i, row in enumerate(rows):
        lat, energy, bram = cm.layer_costs(i, w[i], a[i])
        assert (row[0], row[1], row[2]) == (lat, energy, bram)
        assert row[3] == w[i].sum() * layers[i].kernel_numel
    lat, energy, util = cm.totals(w, a)
    assert sum(r[0] for r in rows) == pytest.approx(lat, rel=1e-12)
    assert sum(r[1] for r in rows) == pytest.approx(energy, rel=1e-12)
    assert cm.utilisation(int(sum(r[2] for r in rows))) == util


def _flat_sensitivity(layers, seed=0):
    """A made-up sensitivity: errors halve with every bit, curvature random per kernel."""
    rng = np.random.default_rng(seed)
    err = 2.0 ** -np.arange(9)
    return Sensitivity(
        [rng.random(l.c_out) for l in layers],
        rng.random(len(layers)),
        [np.tile(err, (l.c_out, 1)) for l in layers],
        np.tile(err, (len(layers), 1)),
    )


def test_kernel_candidates_contain_the_layer_candidates(default_cache):
    from autoq.engine.setup import build_model

    layers = build_model().layers
    cm = CostModel(layers, "temporal")
    space = SearchSpace(layers, (2, 8), (2, 8), {})
    sens = _flat_sensitivity(layers)
    layer = layer_candidates(1, space, sens, cm, 1)
    kernel = layer_candidates(1, space, sens, cm, 4)
    assert len(layer.a_bits) == 7 * 7 and (layer.w_bits == layer.w_bits[:, :1]).all()
    pairs = {(row.tobytes(), int(a)) for row, a in zip(kernel.w_bits, kernel.a_bits)}
    assert all((row.tobytes(), int(a)) in pairs for row, a in zip(layer.w_bits, layer.a_bits))
    # the sensitivity of a candidate is the sum over its kernels and its input
    j = 5
    expect = sens.kernel_cost(1)[np.arange(layers[1].c_out), kernel.w_bits[j]].sum() + sens.act_cost(1)[kernel.a_bits[j]]
    assert kernel.sensitivity[j] == pytest.approx(expect)


def test_kernelwise_program_is_never_worse_than_layerwise_at_the_same_budget(default_cache):
    from autoq.engine.setup import build_model

    layers = build_model().layers
    cm = CostModel(layers, "spatial")
    space = SearchSpace(layers, (1, 8), (2, 8), {})
    sens = _flat_sensitivity(layers, seed=3)
    full = sum(cm.layer_costs(i, np.full(l.c_out, 8), 8)[0] for i, l in enumerate(layers))
    least = sum(cm.layer_costs(i, np.full(l.c_out, 1), 2)[0] for i, l in enumerate(layers))
    for frac in (0.2, 0.6):
        room = least + frac * (full - least)
        got = {}
        for groups in (1, 4):
            cands = [layer_candidates(i, space, sens, cm, groups) for i in range(len(layers))]
            sol = choose(cands, [c.costs[:, 0] for c in cands], room)
            w, a = [s[0] for s in sol], [s[1] for s in sol]
            assert cm.totals(w, a)[0] <= room
            got[groups] = sens.policy_cost(w, a)
        assert got[4] <= got[1] * (1 + 1e-9)


def test_pinned_layers_keep_their_bits(default_cache):
    from autoq.engine.setup import build_model

    layers = build_model().layers
    space = SearchSpace(layers, (2, 8), (2, 8), {0: 8})
    c = layer_candidates(0, space, _flat_sensitivity(layers), CostModel(layers, "temporal"), 4)
    assert len(c.a_bits) == 1 and c.a_bits[0] == 8 and (c.w_bits == 8).all()
