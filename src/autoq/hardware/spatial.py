"""Spatial (bit-fusion, BitFusion-like) accelerator model.

``N`` rows (reduction lanes) × ``M`` columns (output channels) of fusion units built from 2-bit bricks.
A unit fuses its bricks to ``r(b)`` bits (1,2→2; 3,4→4; 5..8→8 with ``max_bits = 8``) and then runs
``pf(a, w) = (max_bits / r(a)) · (max_bits / r(w))`` MACs per cycle. Kernels are tiled in ``M`` per
group, sorted by precision, so a tile runs at its widest kernel ``b̂_t``::

    C_comp = P · k² · Σ_groups Σ_t ceil((Cin/g) / (N · pf(b_a, b̂_t)))
    DRAM   = Σ_j r(b_w[j])·K + r(b_a)·B·Hi·Wi·Cin + 32·P·Cout   (+ reloads when both buffers overflow)
    cycles = max(C_comp, DRAM / if_width) + prologue + epilogue

Readings of the specification chosen here (all documented in ``docs/hardware-models.md``):

- activations are stored and moved at ``r(b_a)`` bits, like weights at ``r(b_w)``: the buffers hold
  fused-precision words, which makes every cost constant within {3, 4} and within {5..8} bits;
- reloads: if the layer's weights fit in the weight buffer, or its input in the input buffer, each is
  read once; otherwise the cheaper loop order is taken: weights in buffer-sized chunks with the input
  re-read per chunk, or the input in chunks with the weights re-read per chunk. Outputs are written
  once at 32 bits (partial sums stay in the column accumulators);
- prologue = read the first tile's weights (whole kernels, at the tile's precision) and the ``kh``
  input rows of the first output row; epilogue = write one output row of the last tile;
- energy: ``unit_pj / pf`` per MAC, i.e. ``unit_pj / 64`` per ``r(a)·r(w)`` brick-bit product;
  each MAC reads its weight (at the tile's precision) from the weight buffer, each input is read once
  per kernel tile and broadcast across the columns, each output is written once at 32 bits.
"""

from __future__ import annotations

import numpy as np

from autoq.hardware.accelerator import SpatialAccelerator
from autoq.hardware.mapping import (
    Q_ACT,
    Q_CYCLES,
    Q_FILL,
    Q_IBUF,
    Q_OPS,
    Q_WBUF,
    Q_WDRAM,
    Q_WSTORE,
    Mapping,
    ceil_div,
)

REFERENCE_UNIT_BITS = 8  # unit_pj is the energy of one 8x8 fusion-unit cycle


class SpatialMapping(Mapping):
    acc: SpatialAccelerator

    def __init__(self, layers, acc: SpatialAccelerator, batch: int) -> None:
        self.tile_width = acc.cols_m
        self.ops_pj = acc.unit_pj / REFERENCE_UNIT_BITS**2
        self.needs_group_bits = False
        self.run_bits = np.array([acc.run_bits(b) for b in range(acc.max_bits + 1)], dtype=np.int64)
        super().__init__(layers, acc, batch)
        self.w_cap = acc.wbuf_kb * 8192
        self.i_cap = acc.ibuf_kb * 8192

    def tables(self, a, b):
        acc, s = self.acc, self.s
        ra, rb = self.run_bits[a], self.run_bits[b]
        # ceil(Cg / (N · pf)) with pf = max_bits² / (r(a)·r(w)), exactly, in integers
        lanes = ceil_div(s.cin_g * ra * rb, acc.rows_n * acc.max_bits**2)
        n0 = np.minimum(acc.cols_m, s.cpg)  # kernels of the first tile
        width = acc.interface_bits_per_cycle
        fill = ceil_div(n0 * s.K * rb + ra * s.kh * s.wi * s.cin_g, width) + ceil_div(n0 * s.wo * 32, width)
        tables = {
            "tile": {Q_CYCLES: s.P * s.kh * s.kw * lanes, Q_IBUF: s.K * s.P * ra * (b > 0)},
            "exec": {Q_OPS: s.K * s.P * ra * rb, Q_WBUF: s.K * s.P * rb},
            "kernel": {Q_WDRAM: s.K * rb, Q_WSTORE: s.K * rb},
            "first": {Q_FILL: fill},
        }
        act_rd = ra * s.hi * s.wi * s.c_in
        out = 32 * s.P * s.c_out
        return tables, {Q_ACT: act_rd}, out, out

    def memory(self, w_dram, act_rd, group_bits):
        i = act_rd
        once = w_dram + i
        reload = np.minimum(w_dram + i * ceil_div(w_dram, self.w_cap), i + w_dram * ceil_div(i, self.i_cap))
        dram = np.where((w_dram <= self.w_cap) | (i <= self.i_cap), once, reload) + self.out_wr
        width = self.acc.interface_bits_per_cycle
        return dram, (dram + (width - 1)) // width
