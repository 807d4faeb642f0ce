"""Spatial (bit-fusion, BitFusion-like) model against the validation targets of docs/hardware-models.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hw_reference import conv, linear, reference

from autoq.errors import AutoQError
from autoq.hardware import CostModel, load_accelerator

SPATIAL = load_accelerator("spatial")


def one(layer, w, a, acc=SPATIAL, sort=True):
    bits = np.full(layer.c_out, w) if np.isscalar(w) else np.asarray(w)
    return CostModel([layer], acc, sort_kernels=sort).evaluate_bits([bits], [a]).layers[0]


def r(b: int) -> int:
    return 2 if b <= 2 else 4 if b <= 4 else 8


LAYERS = [conv(64, 64, k=3, out_hw=14), conv(3, 32, k=3, out_hw=16), linear(512, 100), conv(48, 48, groups=48)]


@pytest.mark.parametrize("layer", LAYERS, ids=["conv", "stem", "fc", "dw"])
def test_cost_is_constant_within_fused_precisions(layer):
    for a in (2, 4, 8):
        for group in ((3, 4), (5, 6, 7, 8), (1, 2)):
            costs = {(x.latency_s, x.energy_j, x.bram36, x.cycles) for x in (one(layer, w, a) for w in group)}
            assert len(costs) == 1, (a, group)
    for w in (2, 4, 8):
        for group in ((3, 4), (5, 6, 7, 8)):
            costs = {(x.latency_s, x.energy_j, x.cycles) for x in (one(layer, w, a) for a in group)}
            assert len(costs) == 1, (w, group)


def test_fusion_throughput_gain():
    # Cin/g a multiple of N·16: no lane is idle at any precision
    layer = conv(8 * 16 * 2, 16, k=3, out_hw=8)
    c88 = one(layer, 8, 8).compute_cycles
    assert one(layer, 4, 4).compute_cycles * 4 == c88
    assert one(layer, 2, 2).compute_cycles * 16 == c88
    assert one(layer, 2, 8).compute_cycles * 4 == c88
    assert one(layer, 8, 2).compute_cycles * 4 == c88
    # 0.459 pJ per fusion-unit cycle at 8x8: 0.459 / pf pJ per MAC
    for (w, a), pf in {(8, 8): 1, (4, 4): 4, (2, 2): 16, (8, 4): 2}.items():
        e = one(layer, w, a).energy_parts_j["compute"]
        assert e == pytest.approx(layer.macs * 0.459e-12 / pf, rel=1e-12)


@pytest.mark.parametrize(
    "layer",
    [
        conv(3, 64, k=7, out_hw=56, stride=2),
        conv(64, 64, k=3, out_hw=14),
        conv(100, 36, k=3, out_hw=9),
        conv(96, 96, k=3, out_hw=28, groups=96),
        conv(512, 512, k=3, out_hw=14),  # weights and input both overflow their buffers
        linear(2048, 1000),
    ],
    ids=["stem", "conv", "ragged", "dw", "reload", "fc"],
)
@pytest.mark.parametrize("w, a", [(8, 8), (4, 2), (1, 3)])
def test_uniform_kernels_give_the_layerwise_formula(layer, w, a):
    acc = SPATIAL
    K, P, g = layer.kernel_numel, layer.out_hw[0] * layer.out_hw[1], layer.groups
    kh, kw = layer.kernel_size
    cpg, cin_g = layer.c_out // g, layer.c_in // g
    pf = (8 // r(a)) * (8 // r(w))
    c_comp = g * P * kh * kw * math.ceil(cpg / acc.cols_m) * math.ceil(cin_g / (acc.rows_n * pf))
    W = layer.c_out * r(w) * K
    I = r(a) * layer.in_hw[0] * layer.in_hw[1] * layer.c_in
    wcap, icap = 64 * 8192, 32 * 8192
    reads = W + I if (W <= wcap or I <= icap) else min(W + I * math.ceil(W / wcap), I + W * math.ceil(I / icap))
    dram = reads + 32 * P * layer.c_out
    n0 = min(acc.cols_m, cpg)
    fill = math.ceil((n0 * K * r(w) + r(a) * kh * layer.in_hw[1] * cin_g) / 64)
    fill += math.ceil(n0 * layer.out_hw[1] * 32 / 64)
    res = one(layer, w, a)
    assert (res.compute_cycles, res.memory_cycles, res.fill_cycles) == (c_comp, math.ceil(dram / 64), fill)
    assert res.dram_bits == dram
    assert res.bram36 == math.ceil(W / 36864)
    ref = reference(layer, np.full(layer.c_out, w), a, acc)
    assert res.energy_j == pytest.approx(ref["energy_j"], rel=1e-12)
    assert res.cycles == ref["cycles"]


def test_reload_takes_the_cheaper_loop_order():
    layer = conv(512, 512, k=3, out_hw=14)
    W, I = 512 * 8 * 4608, 8 * 14 * 14 * 512
    assert W > 64 * 8192 and I > 32 * 8192
    res = one(layer, 8, 8)
    assert res.dram_bits == min(W + I * math.ceil(W / (64 * 8192)), I + W * math.ceil(I / (32 * 8192))) + 32 * 196 * 512


def test_large_fc_layer_is_bound_by_weight_traffic():
    fc = linear(2048, 1000)
    lat = {w: one(fc, w, 8).latency_s for w in (2, 4, 8)}
    assert all(one(fc, w, a).bound == "memory" for w in (2, 4, 8) for a in (2, 8))
    assert {one(fc, w, a).limited_by for w in (2, 4, 8) for a in (2, 8)} == {"weight traffic"}
    assert lat[8] / lat[4] == pytest.approx(2, rel=0.05)
    assert lat[4] / lat[2] == pytest.approx(2, rel=0.05)
    assert one(fc, 8, 2).latency_s == pytest.approx(lat[8], rel=0.05)


def test_depthwise_layer_leaves_lanes_idle():
    # one input channel per group: N·pf lanes of which one is used, so compute-bound at every precision
    dw = conv(32, 32, k=3, out_hw=112, groups=32)
    assert {one(dw, w, a).bound for w in (1, 8) for a in (2, 8)} == {"compute"}
    assert one(dw, 8, 8).compute_cycles == one(dw, 2, 2).compute_cycles == 32 * 112 * 112 * 9


def test_report_names_the_fused_precisions_and_the_traffic_that_bounds():
    # ResNet-20's 16-channel 3x3 layer at 4/4: memory-bound by the 32-bit outputs and the input
    layer = conv(16, 16, k=3, out_hw=32)
    r = CostModel([layer], SPATIAL).evaluate_bits([np.array([1, 3, 3, 5] + [2] * 12)], [3]).layers[0]
    assert r.fused_bits == {"weights": [2, 4, 8], "act": 4}
    at4 = one(layer, 4, 4)
    assert (at4.bound, at4.limited_by, at4.fused_bits) == ("memory", "activation traffic", {"weights": [4], "act": 4})
    pruned = CostModel([layer], SPATIAL).evaluate_bits([np.zeros(16, np.int64)], [8]).layers[0]
    assert pruned.fused_bits == {"weights": [], "act": 8}


def test_fixed_precision_units_run_everything_at_max_bits():
    fixed = SPATIAL.replace(fusible=False)
    layer = conv(64, 64, out_hw=8)
    costs = {(x.latency_s, x.energy_j) for x in (one(layer, w, a, fixed) for w in (1, 4, 8) for a in (2, 8))}
    assert len(costs) == 1
    assert one(layer, 8, 8, fixed).cycles == one(layer, 8, 8).cycles


def test_four_bit_units_reject_eight_bit_policies():
    four = SPATIAL.replace(max_bits=4)
    layer = conv(64, 64, out_hw=8, name="conv1")
    assert one(layer, 4, 4, four).compute_cycles == one(layer, 8, 8).compute_cycles
    with pytest.raises(AutoQError, match=r"weights 0\.\.4.*layer .conv1. field 'weight_bits' has 8, outside \[0, 4\]"):
        one(layer, 8, 4, four)


def test_resnet20_gains_little_below_four_bits():
    # documented in docs/hardware-models.md, "Where lower bits buy nothing"
    from autoq.engine.setup import build_model
    from autoq.quant.policy import Policy

    layers = build_model("resnet20").discovery.layers
    model = CostModel(layers, SPATIAL)
    rep = {b: model.evaluate(Policy.uniform(layers, b, b)) for b in (8, 6, 4, 3, 2)}
    assert rep[6].latency_s == rep[8].latency_s and rep[3].latency_s == rep[4].latency_s
    assert sum(l.bound == "memory" for l in rep[4].layers) == 14
    assert sum(l.limited_by == "activation traffic" for l in rep[4].layers) == 13
    assert rep[2].latency_s / rep[4].latency_s == pytest.approx(0.89, abs=0.01)
    assert {l.fused_bits["weights"][0] for l in rep[3].layers} == {4}
