"""The cost model as a whole: kernel-wise policies against the reference, tiling, monotonicity,
agreement of the fast paths, policy errors and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hw_reference import conv, linear, reference, renumber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoq.errors import AutoQError
from autoq.hardware import CostModel, CostReport, cost, load_accelerator
from autoq.quant.policy import Policy

ACCS = {"temporal": load_accelerator("temporal"), "spatial": load_accelerator("spatial")}
# the same boards with the weights resident on chip: then their BRAM counts in the area
RESIDENT = {f"{k}-resident": a.replace(weights_on_chip=True) for k, a in ACCS.items()}
BOTH = {**ACCS, **RESIDENT}
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers_(draw):
    """A small random conv (maybe grouped) or linear layer."""
    if draw(st.booleans()):
        g = draw(st.sampled_from([1, 1, 2, 3]))
        return conv(
            g * draw(st.integers(1, 24)),
            g * draw(st.integers(1, 40)),
            k=draw(st.sampled_from([1, 3])),
            out_hw=draw(st.integers(1, 12)),
            groups=g,
            calls=draw(st.sampled_from([1, 1, 2])),
        )
    return linear(draw(st.integers(1, 600)), draw(st.integers(1, 40)))


@st.composite
def layer_and_bits(draw, lo=0):
    layer = draw(layers_())
    bits = np.array(draw(st.lists(st.integers(lo, 8), min_size=layer.c_out, max_size=layer.c_out)))
    return layer, bits, draw(st.integers(1, 8))


@pytest.mark.parametrize("kind", ACCS)
@pytest.mark.parametrize("sort", [True, False])
@FAST
@given(data=layer_and_bits())
def test_kernelwise_matches_the_reference(kind, sort, data):
    layer, bits, a = data
    acc = ACCS[kind]
    got = CostModel([layer], acc, sort_kernels=sort).evaluate_bits([bits], [a]).layers[0]
    ref = reference(layer, bits, a, acc, sort=sort)
    for key in ("compute_cycles", "memory_cycles", "fill_cycles", "cycles", "dram_bits", "bram36", "bound"):
        assert getattr(got, key) == ref[key], key
    assert got.latency_s == pytest.approx(ref["latency_s"], rel=1e-12)
    assert got.energy_j == pytest.approx(ref["energy_j"], rel=1e-12)


def tile_cycles(layer, acc, b, a):
    """Compute cycles of one tile of one group at ``b`` weight bits (the per-tile cost f(b))."""
    if b == 0:
        return 0
    solo = (
        conv(layer.c_in // layer.groups, 1, k=layer.kernel_size[0], out_hw=layer.out_hw[0])
        if layer.kind == "conv"
        else linear(layer.c_in, 1)
    )
    return CostModel([solo], acc).evaluate_bits([np.array([b])], [a]).layers[0].compute_cycles


@pytest.mark.parametrize("kind", ACCS)
@FAST
@given(data=layer_and_bits())
def test_sorted_tiles_cost_at_most_one_tile_more_than_ideal(kind, data):
    layer, bits, a = data
    acc = ACCS[kind]
    width = acc.dm if kind == "temporal" else acc.cols_m
    f = {b: tile_cycles(layer, acc, b, a) for b in range(9)}
    ideal = sum(f[int(b)] for b in bits) / width  # every kernel paying its own share of a tile
    sorted_ = CostModel([layer], acc).evaluate_bits([bits], [a]).layers[0].compute_cycles
    unsorted = CostModel([layer], acc, sort_kernels=False).evaluate_bits([bits], [a]).layers[0].compute_cycles
    one_tile = f[int(bits.max())]
    assert ideal - 1e-9 <= sorted_ <= ideal + layer.groups * one_tile + 1e-9
    assert sorted_ <= unsorted


def test_sorting_recovers_kernelwise_savings():
    layer = conv(256, 256, k=3, out_hw=14)
    rng = np.random.default_rng(0)
    bits = rng.permutation(np.repeat([2, 8], 128))
    acc = ACCS["temporal"]
    s = CostModel([layer], acc).evaluate_bits([bits], [4]).layers[0].compute_cycles
    u = CostModel([layer], acc, sort_kernels=False).evaluate_bits([bits], [4]).layers[0].compute_cycles
    all8 = CostModel([layer], acc).evaluate_bits([np.full(256, 8)], [4]).layers[0].compute_cycles
    assert s == pytest.approx(all8 * 10 / 16)  # half the tiles at 2 bits, half at 8
    assert u >= 0.9 * all8  # nearly every random tile of 8 holds an 8-bit kernel


@st.composite
def model_policy_change(draw):
    layers = renumber([draw(layers_()) for _ in range(draw(st.integers(1, 3)))])
    bits = [np.array(draw(st.lists(st.integers(0, 8), min_size=l.c_out, max_size=l.c_out))) for l in layers]
    acts = [draw(st.integers(1, 8)) for _ in layers]
    i = draw(st.integers(0, len(layers) - 1))
    j = draw(st.integers(0, layers[i].c_out - 1))
    return layers, bits, acts, i, j, draw(st.integers(1, 8))


@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("sort", [True, False])
@FAST
@given(data=model_policy_change())
def test_lowering_any_kernel_or_activation_never_costs_more(kind, sort, data):
    layers, bits, acts, i, j, drop = data
    model = CostModel(layers, BOTH[kind], sort_kernels=sort)
    before = model.totals(bits, acts)
    lower = [b.copy() for b in bits]
    lower[i][j] = max(0, lower[i][j] - drop)
    after = model.totals(lower, acts)
    assert all(x <= y for x, y in zip(after, before)), (before, after)
    acts2 = list(acts)
    acts2[i] = max(1, acts2[i] - drop)
    after = model.totals(bits, acts2)
    assert all(x <= y for x, y in zip(after, before)), (before, after)


@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("sort", [True, False])
@settings(max_examples=15, deadline=None)
@given(data=model_policy_change())
def test_fast_paths_agree_exactly(kind, sort, data):
    layers, bits, acts, *_ = data
    model = CostModel(layers, BOTH[kind], sort_kernels=sort)
    lat, energy, util = model.totals(bits, acts)
    rep = model.evaluate_bits(bits, acts)
    assert (rep.latency_s, rep.energy_j, rep.area.utilisation) == (lat, energy, util)
    parts = [model.layer_costs(i, bits[i], acts[i]) for i in range(len(layers))]
    assert sum(p[0] for p in parts) == lat
    assert sum(p[1] for p in parts) == energy
    assert model.utilisation(sum(p[2] for p in parts)) == util
    counted = [l.bram36 if model.area_depends_on_bits else 0 for l in rep.layers]
    assert [(p[0], p[1], p[2]) for p in parts] == [(l.latency_s, l.energy_j, b) for l, b in zip(rep.layers, counted)]
    assert sum(rep.energy_parts_j.values()) == pytest.approx(energy, rel=1e-12)


def small_model():
    return renumber([conv(3, 16, out_hw=16, name="c"), conv(16, 32, out_hw=8, stride=2, name="c"), linear(32, 10)])


def test_area_is_the_accelerator_alone_when_weights_stream_from_dram():
    layers = small_model()
    model = CostModel(layers, ACCS["temporal"])
    assert not model.area_depends_on_bits
    r8, r2 = (model.evaluate(Policy.uniform(layers, b, b)) for b in (8, 2))
    assert r8.area == r2.area and r8.area.bram36_weights == 0 and not r8.area.weights_on_chip
    assert r8.area.utilisation == pytest.approx(128 / 140) and r8.area.utilisation <= 1  # BISMO 8x256x8 fits
    assert r8.layers[0].bram36 == 1  # what holding the weights on chip would take is still reported
    assert [model.layer_costs(i, np.full(l.c_out, 8), 8).bram36 for i, l in enumerate(layers)] == [0, 0, 0]


def test_utilisation_counts_weight_brams_when_resident():
    layers = small_model()
    acc = RESIDENT["temporal-resident"]
    model = CostModel(layers, acc)
    assert model.area_depends_on_bits
    rep = model.evaluate(Policy.uniform(layers, 8, 8))
    w_bits = [l.c_out * 8 * l.kernel_numel for l in layers]
    bram_w = sum(-(-b // 36864) for b in w_bits)
    assert rep.area.bram36_weights == bram_w
    assert rep.area.bram36 == 128 + bram_w
    assert rep.area.utilisation == pytest.approx(max(29678 / 53200, (128 + bram_w) / 140))
    assert (rep.area.lut, rep.area.dsp) == (29678, 0)
    assert model.fixed_bram36() == 128 and model.device_bram36() == 140
    assert model.fixed_utilisation() == pytest.approx(max(29678 / 53200, 128 / 140))
    assert model.utilisation(bram_w) == rep.area.utilisation
    pruned = model.evaluate(Policy.uniform(layers, 0, 8))
    assert pruned.area.bram36_weights == 0
    assert all(l.compute_cycles == 0 for l in pruned.layers)


def test_policy_errors_name_the_layer():
    layers = small_model()
    model = CostModel(layers, "temporal")
    p = Policy.uniform(layers, 4, 4)
    p.weight_bits["c1"][3] = 9
    with pytest.raises(AutoQError, match=r"layer 'c1' field 'weight_bits' has 9, outside \[0, 8\]"):
        model.evaluate(p)
    p = Policy.uniform(layers, 4, 4)
    p.act_bits["fc2"] = 0
    with pytest.raises(AutoQError, match="layer 'fc2' field 'act_bits' is 0"):
        model.evaluate(p)
    p = Policy.uniform(layers, 4, 4)
    p.weight_bits["c0"] = np.array([4] * 15)
    with pytest.raises(AutoQError, match="layer 'c0' field 'weight_bits' has 15 entries, the layer has 16 kernels"):
        model.evaluate(p)
    p = Policy.uniform(layers, 4, 4)
    del p.weight_bits["fc2"]
    with pytest.raises(AutoQError, match="layer 'fc2' is missing field 'weight_bits'"):
        model.evaluate(p)
    with pytest.raises(AutoQError, match="must be integers"):
        model.totals([np.full(l.c_out, 2.5) for l in layers], [4, 4, 4])
    with pytest.raises(AutoQError, match="out of range"):
        model.layer_costs(3, np.full(10, 4), 4)
    with pytest.raises(AutoQError, match="no quantizable layers"):
        CostModel([], "temporal")


def test_report_shape_and_json():
    layers = small_model()
    rep = cost(layers, Policy.uniform(layers, 4, 4), "spatial")
    assert isinstance(rep, CostReport) and rep.sort_kernels and rep.kind == "spatial"
    d = json.loads(json.dumps(rep.to_dict()))
    assert {"latency_s", "energy_j", "energy_parts_j", "area", "layers"} <= set(d)
    assert {"lut", "ff", "bram36", "dsp", "utilisation"} <= set(d["area"])
    assert set(d["energy_parts_j"]) == {"compute", "buffers", "dram", "static"}
    assert [l["name"] for l in d["layers"]] == ["c0", "c1", "fc2"]
    for l in d["layers"]:
        assert {"latency_s", "energy_j", "energy_parts_j", "bram36", "bound", "cycles"} <= set(l)
        assert l["bound"] in ("compute", "memory")
    assert d["latency_s"] == pytest.approx(sum(l["latency_s"] for l in d["layers"]))


def test_torchvision_resnet18_costs_fall_with_bits():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from autoq.quant.discovery import discover_layers

    layers = discover_layers(torchvision.models.resnet18(), torch.zeros(1, 3, 224, 224)).layers
    for kind in ACCS:
        model = CostModel(layers, kind)
        t = [model.evaluate(Policy.uniform(layers, b, b)) for b in (8, 4, 2)]
        assert t[0].latency_s > t[1].latency_s > t[2].latency_s
        assert t[0].energy_j > t[1].energy_j > t[2].energy_j
        assert t[0].area.utilisation == t[2].area.utilisation <= 1  # weights stream from DRAM
        resident = CostModel(layers, BOTH[f"{kind}-resident"])
        u = [resident.evaluate(Policy.uniform(layers, b, b)).area.utilisation for b in (8, 4, 2)]
        assert u[0] > u[1] > u[2]
