"""Temporal (bit-serial, BISMO-like) accelerator model.

A ``Dm × Dk × Dn`` array multiplies a tile of ``Dm`` kernels with ``Dn`` lowered activation rows,
``Dk`` bits of the dot product per cycle, one weight bit-plane × activation bit-plane pair per execute
instruction. Per group, with kernels sorted by precision and cut into tiles of ``Dm`` (``b̂_t`` the
widest kernel of tile ``t``)::

    T_k = ceil(K / Dk);  T_n = ceil(P / Dn)
    C_exec = T_n · Σ_t b̂_t · b_a · (T_k + o_exec)
    W_bits = Σ_j b_w[j] · T_k·Dk;   A_bits = b_a · T_n·Dn · T_k·Dk;   O_bits = Cout · P · 32
    fetch  = A_bits + W_bits        if the group's weights fit in half the weight buffer
             A_bits + T_n · W_bits  otherwise (weights re-fetched for every activation tile)
    cycles = max(C_exec, fetch / BW_rd, O_bits / BW_wr) + fill

Readings of the specification chosen here (all documented in ``docs/hardware-models.md``):

- fill = cycles to read the first weight tile (at its widest precision) and the first activation tile,
  plus those to write the last result tile; sorted tiles run widest first, so the fill never grows
  when a kernel's precision drops;
- lock-step: every kernel of a tile runs ``b̂_t`` weight bit-planes, so operations (``b̂_t·b_a`` binary
  ops per MAC) and weight-buffer reads count at the tile's precision; DRAM traffic and storage count
  each kernel at its own precision;
- buffer reads: each weight bit-plane is read once per activation bit-plane and activation tile, each
  activation bit-plane once per weight bit-plane and kernel tile; results are written once (32 bits);
- the activation buffer is assumed to hold one lowered activation tile (``T_k·b_a`` words per row):
  true up to ``K = 16384`` at 8 bits with the PYNQ-Z1 defaults.
"""

from __future__ import annotations

import numpy as np

from autoq.hardware.accelerator import TemporalAccelerator
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


class TemporalMapping(Mapping):
    acc: TemporalAccelerator

    def __init__(self, layers, acc: TemporalAccelerator, batch: int) -> None:
        self.tile_width = acc.dm
        self.ops_pj = acc.binop_pj
        super().__init__(layers, acc, batch)
        s = self.s
        L = s.K.shape[0]
        self.Tn = self._Tn.reshape(L)
        # half the weight buffer: the other half is filled while one computes
        self.w_cap = cap = acc.weight_buffer_bits // 2
        g = s.groups.reshape(L)
        max_group_bits = (self._TkDk * s.cpg).reshape(L) * self.bmax
        # grouped layers whose groups may overflow need the per-group check; in the others every
        # group fits, and a whole-layer (g = 1) layer fits when its weights do
        self._risky = (g > 1) & (max_group_bits > cap)
        self.needs_group_bits = bool(self._risky.any())
        self._layer_cap = np.where(g > 1, np.iinfo(np.int64).max, cap)
        self._group_layer = np.repeat(np.arange(L), g)
        self._group_start = np.concatenate([[0], np.cumsum(g)[:-1]])
        self._wr_cycles = ceil_div(self.out_wr, acc.write_bits_per_cycle)

    def tables(self, a, b):
        acc, s = self.acc, self.s
        self._Tn = Tn = ceil_div(s.P, acc.dn)
        Tk = ceil_div(s.K, acc.dk)
        self._TkDk = TkDk = Tk * acc.dk
        n0 = np.minimum(acc.dm, s.cpg)  # kernels of the first tile
        p0 = np.minimum(acc.dn, s.P)  # output positions of the first activation tile
        fill = ceil_div(n0 * TkDk * b + a * p0 * TkDk, acc.read_bits_per_cycle) + ceil_div(n0 * p0 * 32, acc.write_bits_per_cycle)
        tables = {
            "tile": {Q_CYCLES: Tn * a * b * (Tk + acc.exec_overhead_cycles), Q_IBUF: a * Tn * acc.dn * TkDk * b},
            "exec": {Q_OPS: s.K * s.P * a * b, Q_WBUF: Tn * TkDk * a * b},
            "kernel": {Q_WDRAM: TkDk * b, Q_WSTORE: s.K * b},
            "first": {Q_FILL: fill},
        }
        act_rd = s.groups * a * Tn * acc.dn * TkDk  # lowered input, every group
        out = s.c_out * s.P * 32
        return tables, {Q_ACT: act_rd}, out, out

    def memory(self, w_dram, act_rd, group_bits):
        w_fetch = np.where(w_dram <= self._layer_cap, w_dram, w_dram * self.Tn)
        if self.needs_group_bits:
            wg = group_bits * self._TkDk.reshape(-1)[self._group_layer]
            per_group = np.where(wg <= self.w_cap, wg, wg * self.Tn[self._group_layer])
            w_fetch = np.where(self._risky, np.add.reduceat(per_group, self._group_start), w_fetch)
        rd = act_rd + w_fetch
        bw = self.acc.read_bits_per_cycle
        return rd + self.out_wr, np.maximum((rd + (bw - 1)) // bw, self._wr_cycles)
