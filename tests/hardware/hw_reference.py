"""Plain-Python transcription of the formulas of docs/hardware-models.md, one layer at a time: the oracle the
vectorised cost model is tested against."""

from __future__ import annotations

import math
from fractions import Fraction

from autoq.hardware import SpatialAccelerator, TemporalAccelerator
from autoq.quant.discovery import LayerInfo


def conv(
    c_in: int, c_out: int, k: int = 3, out_hw: int = 8, stride: int = 1, groups: int = 1, calls: int = 1, name: str = "conv"
) -> LayerInfo:
    return LayerInfo(
        index=0,
        name=name,
        kind="conv",
        c_in=c_in,
        c_out=c_out,
        kernel_size=(k, k),
        stride=(stride, stride),
        padding=(k // 2, k // 2),
        groups=groups,
        in_hw=(out_hw * stride, out_hw * stride),
        out_hw=(out_hw, out_hw),
        has_bias=False,
        calls=calls,
    )


def linear(c_in: int, c_out: int, name: str = "fc") -> LayerInfo:
    return LayerInfo(
        index=0,
        name=name,
        kind="linear",
        c_in=c_in,
        c_out=c_out,
        kernel_size=(1, 1),
        stride=(1, 1),
        padding=(0, 0),
        groups=1,
        in_hw=(1, 1),
        out_hw=(1, 1),
        has_bias=True,
    )


def renumber(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Unique names and indices, in order."""
    return [LayerInfo(**{**l.__dict__, "index": i, "name": f"{l.name}{i}"}) for i, l in enumerate(layers)]


def _tiles(bits: list[int], layer: LayerInfo, width: int, sort: bool) -> list[list[list[int]]]:
    """Per group, the tiles of kernel bits (sorted widest first when ``sort``)."""
    cpg = layer.c_out // layer.groups
    out = []
    for g in range(layer.groups):
        gb = list(bits[g * cpg : (g + 1) * cpg])
        if sort:
            gb.sort(reverse=True)
        out.append([gb[i : i + width] for i in range(0, cpg, width)])
    return out


def temporal(layer: LayerInfo, bits, a: int, acc: TemporalAccelerator, sort: bool = True, batch: int = 1) -> dict:
    bits = [int(b) for b in bits]
    K, P = layer.kernel_numel, batch * layer.out_hw[0] * layer.out_hw[1]
    cpg = layer.c_out // layer.groups
    Tk, Tn = math.ceil(K / acc.dk), math.ceil(P / acc.dn)
    comp = ops = wbuf = ibuf = w_fetch = 0
    groups = _tiles(bits, layer, acc.dm, sort)
    for tiles in groups:
        for t in tiles:
            bh = max(t)
            comp += Tn * bh * a * (Tk + acc.exec_overhead_cycles)
            ops += len(t) * bh * a * K * P
            wbuf += len(t) * bh * a * Tn * Tk * acc.dk
            ibuf += bh * a * Tn * acc.dn * Tk * acc.dk
        w = sum(sum(t) for t in tiles) * Tk * acc.dk
        w_fetch += w if w <= acc.weight_buffer_bits // 2 else Tn * w
    b0 = max(groups[0][0])
    A = layer.groups * a * Tn * acc.dn * Tk * acc.dk
    O = layer.c_out * P * 32
    rd = A + w_fetch
    mem = max(math.ceil(rd / acc.read_bits_per_cycle), math.ceil(O / acc.write_bits_per_cycle))
    n0, p0 = min(acc.dm, cpg), min(acc.dn, P)
    fill = math.ceil((n0 * b0 * Tk * acc.dk + a * p0 * Tk * acc.dk) / acc.read_bits_per_cycle) + math.ceil(
        n0 * p0 * 32 / acc.write_bits_per_cycle
    )
    e_dyn = (
        acc.kappa * (ops * acc.binop_pj + wbuf * acc.wbuf_pj_per_bit + ibuf * acc.ibuf_pj_per_bit + O * acc.obuf_pj_per_bit)
        + (rd + O) * acc.dram_pj_per_bit
    )
    return _finish(layer, acc, comp, mem, fill, rd + O, e_dyn, sum(bits) * K, ops)


def spatial(layer: LayerInfo, bits, a: int, acc: SpatialAccelerator, sort: bool = True, batch: int = 1) -> dict:
    bits = [int(b) for b in bits]
    r = acc.run_bits
    K, P = layer.kernel_numel, batch * layer.out_hw[0] * layer.out_hw[1]
    kh, kw = layer.kernel_size
    cpg, cin_g = layer.c_out // layer.groups, layer.c_in // layer.groups
    comp = ops = wbuf = ibuf = 0
    groups = _tiles(bits, layer, acc.cols_m, sort)
    for tiles in groups:
        for t in tiles:
            bh = max(t)
            if bh == 0:
                continue
            pf = Fraction(acc.max_bits, r(a)) * Fraction(acc.max_bits, r(bh))
            comp += P * kh * kw * math.ceil(Fraction(cin_g) / (acc.rows_n * pf))
            ops += len(t) * K * P * r(a) * r(bh)
            wbuf += len(t) * K * P * r(bh)
            ibuf += K * P * r(a)
    W = sum(r(b) * K for b in bits)
    I = r(a) * batch * layer.in_hw[0] * layer.in_hw[1] * layer.c_in
    wcap, icap = acc.wbuf_kb * 8192, acc.ibuf_kb * 8192
    reads = W + I if (W <= wcap or I <= icap) else min(W + I * math.ceil(W / wcap), I + W * math.ceil(I / icap))
    O = 32 * P * layer.c_out
    dram = reads + O
    width = acc.interface_bits_per_cycle
    mem = math.ceil(dram / width)
    n0, b0 = min(acc.cols_m, cpg), max(groups[0][0])
    fill = math.ceil((n0 * K * r(b0) + r(a) * kh * layer.in_hw[1] * cin_g) / width) + math.ceil(n0 * layer.out_hw[1] * 32 / width)
    e_dyn = (
        acc.kappa * (ops * acc.unit_pj / 64 + wbuf * acc.wbuf_pj_per_bit + ibuf * acc.ibuf_pj_per_bit + O * acc.obuf_pj_per_bit)
        + dram * acc.dram_pj_per_bit
    )
    return _finish(layer, acc, comp, mem, fill, dram, e_dyn, W, ops)


def _finish(layer, acc, comp, mem, fill, dram, e_dyn_pj, w_store, ops) -> dict:
    cycles = max(comp, mem) + fill
    latency = cycles * layer.calls / acc.clock_hz
    return {
        "compute_cycles": comp,
        "memory_cycles": mem,
        "fill_cycles": fill,
        "cycles": cycles,
        "dram_bits": dram,
        "latency_s": latency,
        "energy_j": e_dyn_pj * 1e-12 * layer.calls + acc.static_power_w * latency,
        "bram36": math.ceil(w_store / acc.bram36_bits),
        "ops": ops,
        "bound": "compute" if comp >= mem else "memory",
    }


def reference(layer: LayerInfo, bits, a: int, acc, sort: bool = True, batch: int = 1) -> dict:
    return (temporal if acc.kind == "temporal" else spatial)(layer, bits, a, acc, sort, batch)
