"""Temporal (bit-serial, BISMO-like) model against the validation targets of docs/hardware-models.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hw_reference import conv, linear, reference

from autoq.hardware import CostModel, load_accelerator

TEMPORAL = load_accelerator("temporal")
UNLIMITED = TEMPORAL.replace(exec_overhead_cycles=0, read_bits_per_cycle=2**40, write_bits_per_cycle=2**40)


def one(layer, w, a, acc=TEMPORAL, sort=True):
    """Per-layer cost of one layer with every kernel at ``w`` bits (or the given vector)."""
    bits = np.full(layer.c_out, w) if np.isscalar(w) else np.asarray(w)
    return CostModel([layer], acc, sort_kernels=sort).evaluate_bits([bits], [a]).layers[0]


@pytest.mark.parametrize("acc, f_mhz", [(UNLIMITED, 200), (UNLIMITED.replace(dm=10, dn=10, clock_mhz=300.0), 300)])
def test_peak_throughput_with_one_bit_operands(acc, f_mhz):
    # K = 32·Dk, P = 512·Dn, Cout = 128·Dm: every tile full; o_exec = 0 and unlimited bandwidth
    layer = conv(32 * 256, 128 * acc.dm, k=1, out_hw=64 if acc.dn == 8 else 80)
    r = one(layer, 1, 1, acc)
    assert r.bound == "compute"
    ops = 2 * layer.macs  # one AND and one popcount-add per bit pair
    throughput = ops / r.latency_s
    peak = 2 * acc.dm * acc.dn * acc.dk * f_mhz * 1e6
    assert throughput == pytest.approx(peak, rel=1e-5)  # only the fill (2 cycles) is lost
    assert throughput <= peak
    assert peak == pytest.approx(6.5536e12 if f_mhz == 200 else 15.36e12)


def test_peak_needs_on_chip_data_at_64_bits_per_cycle():
    # the same shape on the PYNQ-Z1 port is bound by DRAM, as the real overlay would be
    layer = conv(32 * 256, 1024, k=1, out_hw=64)
    r = one(layer, 1, 1, TEMPORAL.replace(exec_overhead_cycles=0))
    assert r.bound == "memory"
    assert 2 * layer.macs / r.latency_s < 0.5 * TEMPORAL.peak_binary_ops_per_s


def test_compute_cost_is_linear_in_wbits_times_abits():
    layer = conv(64, 40, k=3, out_hw=14)  # partial tiles on purpose (40 = 5 tiles of 8)
    base = one(layer, 1, 1)
    e_base = base.energy_parts_j["compute"]
    for w in range(1, 9):
        for a in range(1, 9):
            r = one(layer, w, a)
            assert r.compute_cycles == w * a * base.compute_cycles
            assert r.energy_parts_j["compute"] == pytest.approx(w * a * e_base, rel=1e-12)


@pytest.mark.parametrize(
    "layer",
    [
        conv(3, 64, k=7, out_hw=56, stride=2),
        conv(64, 64, k=3, out_hw=14),
        conv(100, 36, k=3, out_hw=9),  # partial kernel, activation and K tiles
        conv(96, 96, k=3, out_hw=28, groups=96),  # depthwise
        conv(64, 128, k=3, out_hw=7, groups=4),
        conv(512, 512, k=3, out_hw=7, calls=3),  # weights overflow half the buffer: refetched
        linear(2048, 1000),
    ],
    ids=["stem", "conv", "ragged", "dw", "grouped", "refetch", "fc"],
)
@pytest.mark.parametrize("w, a", [(8, 8), (4, 2), (1, 3)])
def test_uniform_kernels_give_the_layerwise_formula(layer, w, a):
    acc = TEMPORAL
    K, P, g = layer.kernel_numel, layer.out_hw[0] * layer.out_hw[1], layer.groups
    cpg = layer.c_out // g
    Tk, Tn, tiles = math.ceil(K / acc.dk), math.ceil(P / acc.dn), math.ceil(cpg / acc.dm)
    c_exec = g * Tn * tiles * w * a * (Tk + acc.exec_overhead_cycles)
    w_bits = cpg * w * Tk * acc.dk  # per group
    a_bits = a * Tn * acc.dn * Tk * acc.dk
    fetch = g * (a_bits + (w_bits if w_bits <= acc.weight_buffer_bits // 2 else Tn * w_bits))
    o_bits = layer.c_out * P * 32
    mem = max(math.ceil(fetch / 64), math.ceil(o_bits / 64))
    n0, p0 = min(acc.dm, cpg), min(acc.dn, P)
    fill = math.ceil((n0 * w + a * p0) * Tk * acc.dk / 64) + math.ceil(n0 * p0 * 32 / 64)
    r = one(layer, w, a)
    assert (r.compute_cycles, r.memory_cycles, r.fill_cycles) == (c_exec, mem, fill)
    assert r.cycles == max(c_exec, mem) + fill
    assert r.latency_s == pytest.approx(layer.calls * r.cycles / 200e6, rel=1e-12)
    assert r.dram_bits == fetch + o_bits
    assert r.bram36 == math.ceil(layer.c_out * w * K / 36864)
    ops = layer.macs * w * a
    wbuf = layer.c_out * w * a * Tn * Tk * acc.dk  # every weight plane once per activation plane and tile
    e = (
        (ops * 0.004 + wbuf * 0.021 + g * tiles * w * a_bits * 0.059 + o_bits * 0.033 + (fetch + o_bits) * 20.0)
        * 1e-12
        * layer.calls
    )
    assert r.energy_j == pytest.approx(e + 0.15 * r.latency_s, rel=1e-12)
    ref = reference(layer, np.full(layer.c_out, w), a, acc)
    assert r.energy_j == pytest.approx(ref["energy_j"], rel=1e-12)


def test_weights_refetched_per_activation_tile_when_over_half_the_buffer():
    small, big = conv(128, 64, k=3, out_hw=8), conv(512, 512, k=3, out_hw=8)
    acc = TEMPORAL
    for layer, refetch in ((small, False), (big, True)):
        K, P = layer.kernel_numel, 64
        Tk, Tn = math.ceil(K / acc.dk), math.ceil(P / acc.dn)
        w = layer.c_out * 8 * Tk * acc.dk
        assert (w > acc.weight_buffer_bits // 2) == refetch
        r = one(layer, 8, 8)
        a = 8 * Tn * acc.dn * Tk * acc.dk
        assert r.dram_bits == a + (Tn if refetch else 1) * w + layer.c_out * P * 32


def test_grouped_layer_checks_every_group_against_the_buffer():
    # two groups of 512 kernels with K = 512·9: each group overflows half the weight buffer at 8 bits
    layer = conv(1024, 1024, k=3, out_hw=8, groups=2)
    model = CostModel([layer], TEMPORAL)
    assert model.mapping.needs_group_bits
    rng = np.random.default_rng(3)
    for _ in range(5):
        bits = rng.integers(0, 9, 1024)
        bits[:512] = rng.integers(0, 2, 512)  # first group fits, second does not
        r = model.evaluate_bits([bits], [4]).layers[0]
        ref = reference(layer, bits, 4, TEMPORAL)
        assert (r.cycles, r.dram_bits) == (ref["cycles"], ref["dram_bits"])


def test_large_fc_layer_is_bound_by_weight_traffic():
    fc = linear(2048, 1000)
    lat = {w: one(fc, w, 8).latency_s for w in (1, 2, 4, 8)}
    for w in (1, 2, 4, 8):
        assert one(fc, w, 8).bound == "memory"
    assert {one(fc, w, 8).limited_by for w in (1, 2, 4, 8)} == {"weight traffic"}
    assert lat[8] / lat[4] == pytest.approx(2, rel=0.1)
    assert lat[4] / lat[2] == pytest.approx(2, rel=0.1)
    # nearly flat in the activation bits
    assert one(fc, 8, 2).latency_s == pytest.approx(lat[8], rel=0.1)


def test_depthwise_layer_is_bound_by_activation_traffic():
    dw = conv(32, 32, k=3, out_hw=112, groups=32)
    ideal = TEMPORAL.replace(exec_overhead_cycles=0)
    for w in range(1, 9):
        for a in (2, 4, 8):
            assert one(dw, w, a, ideal).bound == "memory"
            assert one(dw, w, a, ideal).limited_by == "activation traffic"
    lat = {(w, a): one(dw, w, a, ideal).latency_s for w in (1, 8) for a in (2, 4, 8)}
    assert lat[8, 8] == pytest.approx(lat[1, 8], rel=0.02)  # flat in b_w
    assert lat[1, 8] / lat[1, 4] == pytest.approx(2, rel=0.02)  # proportional to b_a
    assert lat[1, 4] / lat[1, 2] == pytest.approx(2, rel=0.02)
    # with BISMO's 12-cycle instruction overhead and K = 9 (one Dk chunk per instruction) the
    # memory term is unchanged but execution overtakes it from 3-bit weights on
    mem = {w: one(dw, w, 8).memory_cycles for w in (1, 8)}
    assert mem[1] == pytest.approx(mem[8], rel=0.01)
    assert [one(dw, w, 8).bound for w in (1, 2, 3, 8)] == ["memory", "memory", "compute", "compute"]
    assert [one(dw, w, 8).limited_by for w in (2, 3)] == ["activation traffic", "compute"]
    assert one(dw, 8, 8).fused_bits is None  # only the spatial array fuses precisions


def test_layer_called_twice_costs_twice_and_stores_once():
    once, twice = conv(64, 64, out_hw=8), conv(64, 64, out_hw=8, calls=2)
    r1, r2 = one(once, 4, 4), one(twice, 4, 4)
    assert r2.latency_s == pytest.approx(2 * r1.latency_s, rel=1e-12)
    assert r2.energy_j == pytest.approx(2 * r1.energy_j, rel=1e-12)
    assert (r2.bram36, r2.cycles, r2.calls) == (r1.bram36, r1.cycles, 2)


def test_batch_scales_the_output_positions():
    layer = conv(64, 64, out_hw=8)
    b1 = CostModel([layer], TEMPORAL, batch=1).evaluate_bits([np.full(64, 4)], [4]).layers[0]
    b4 = CostModel([layer], TEMPORAL, batch=4).evaluate_bits([np.full(64, 4)], [4]).layers[0]
    assert b4.compute_cycles == 4 * b1.compute_cycles


def test_resnet20_stays_compute_bound_so_bits_pay_all_the_way_down():
    # documented in docs/hardware-models.md, "Where lower bits buy nothing"
    from autoq.engine.setup import build_model
    from autoq.quant.policy import Policy

    layers = build_model("resnet20").discovery.layers
    model = CostModel(layers, TEMPORAL)
    rep = {b: model.evaluate(Policy.uniform(layers, b, b)) for b in (8, 4, 2)}
    assert all(l.limited_by == "compute" for b in (8, 4) for l in rep[b].layers)
    assert [l.name for l in rep[2].layers if l.limited_by != "compute"] == ["linear"]
    assert rep[4].latency_s / rep[8].latency_s == pytest.approx(0.25, abs=0.01)
    assert rep[2].latency_s / rep[4].latency_s == pytest.approx(0.25, abs=0.01)
