"""What both accelerator models share: per-layer shape constants and precision tables.

A model maps every layer onto an array that runs tiles of ``tile_width`` kernels in lock-step, so a
tile costs what its widest kernel costs. Every per-layer quantity (cycles, bits, bit-operations) is
then a sum over one of four blocks, each of a function ``f(a, b)`` of the activation bits ``a`` and a
weight precision ``b``, non-decreasing in ``b`` and with ``f(a, 0) = 0`` (a pruned kernel or an empty
tile costs nothing):

- ``tile``: per tile, at the tile's widest precision (compute cycles, activation-buffer reads);
- ``exec``: per kernel, at the precision its tile runs (operations, weight-buffer reads);
- ``kernel``: per kernel, at its own precision (weight traffic and storage);
- ``first``: once, at the precision of the first tile (fill cycles; here ``f(a, 0)`` may be > 0),

plus terms that depend on ``a`` only (activation reads). By Abel summation
``Σ_i f(b_i) = Σ_{b≥1} Δf(b) · #{i : b_i ≥ b}`` with ``Δf(b) = f(b) - f(b-1)``, so every quantity is one
dot product of a per-layer ``Δf`` table (computed once per model) with counts of items at or above
each precision (per policy, from one histogram of the kernel bits). The tables are integers, so every
path through the model gives bit-identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autoq.hardware.accelerator import Accelerator

if TYPE_CHECKING:
    from autoq.quant.discovery import LayerInfo

# quantities of the stacked table, in this order
Q_CYCLES, Q_IBUF, Q_OPS, Q_WBUF, Q_WDRAM, Q_WSTORE, Q_FILL, Q_ACT = range(8)
N_QUANTITIES = 8
# blocks of Δ columns: per tile, per kernel at its tile's precision, per kernel at its own, first tile
BLOCKS = ("tile", "exec", "kernel", "first")


def ceil_div(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Integer ceiling of ``a / b`` (element-wise)."""
    return -(-np.asarray(a) // b)


@dataclass(frozen=True)
class Shapes:
    """Per-layer shape constants as int64 arrays of shape ``(L, 1, 1)`` (ready to broadcast over a, b)."""

    c_in: np.ndarray
    c_out: np.ndarray
    groups: np.ndarray
    cpg: np.ndarray  # kernels per group
    cin_g: np.ndarray  # input channels per group
    K: np.ndarray  # dot-product length (Cin/g)·kh·kw
    kh: np.ndarray
    kw: np.ndarray
    hi: np.ndarray
    wi: np.ndarray
    wo: np.ndarray
    P: np.ndarray  # outputs per channel B·Ho·Wo

    @classmethod
    def of(cls, layers: Sequence[LayerInfo], batch: int) -> Shapes:
        def col(values) -> np.ndarray:
            return np.asarray(list(values), dtype=np.int64).reshape(-1, 1, 1)

        return cls(
            c_in=col(l.c_in for l in layers),
            c_out=col(l.c_out for l in layers),
            groups=col(l.groups for l in layers),
            cpg=col(l.c_out // l.groups for l in layers),
            cin_g=col(l.c_in // l.groups for l in layers),
            K=col(l.kernel_numel for l in layers),
            kh=col(l.kernel_size[0] for l in layers),
            kw=col(l.kernel_size[1] for l in layers),
            hi=col(batch * l.in_hw[0] for l in layers),  # batch images stacked along the height
            wi=col(l.in_hw[1] for l in layers),
            wo=col(l.out_hw[1] for l in layers),
            P=col(batch * l.out_hw[0] * l.out_hw[1] for l in layers),
        )


class Mapping:
    """Per-layer constants of one accelerator kind for one list of layers.

    Subclasses define :meth:`tables` (the ``f(a, b)`` of every quantity) and :meth:`memory` (DRAM bits
    and memory-bound cycles from the weight and activation traffic of a policy).
    """

    tile_width: int  # kernels per tile
    ops_pj: float  # energy of one counted operation (before kappa)
    needs_group_bits: bool  # memory() wants the kernel-bit sum of every group

    def __init__(self, layers: Sequence[LayerInfo], acc: Accelerator, batch: int) -> None:
        self.acc = acc
        self.bmax = bmax = acc.max_bits
        self.s = Shapes.of(layers, batch)
        a = np.arange(bmax + 1, dtype=np.int64).reshape(1, -1, 1)
        b = np.arange(bmax + 1, dtype=np.int64).reshape(1, 1, -1)
        tables, const, out_wr, obuf = self.tables(a, b)
        L, A = len(layers), bmax + 1
        # stacked tables (L, a, 4·bmax + 1, quantity): column k·bmax + (b-1) holds Δf(b) of block k,
        # the last column f(a) of the terms that do not depend on the weights
        delta = np.zeros((L, A, len(BLOCKS) * bmax + 1, N_QUANTITIES), dtype=np.int64)
        for k, block in enumerate(BLOCKS):
            for q, f in tables[block].items():
                f = np.broadcast_to(f, (L, A, bmax + 1))
                d = np.diff(f, axis=2)
                if (d < 0).any() or (block != "first" and (f[:, :, 0] != 0).any()):
                    raise AssertionError(f"cost table {q} must start at 0 and not decrease")  # model invariant
                delta[:, :, k * bmax : (k + 1) * bmax, q] = d
                if block == "first":
                    delta[:, :, -1, q] += f[:, :, 0]
        for q, f in const.items():
            delta[:, :, -1, q] += np.broadcast_to(f, (L, A, 1))[:, :, 0]
        self.delta = delta
        self.out_wr = np.broadcast_to(out_wr, (L, 1, 1)).reshape(L).copy()  # (L,): output DRAM write bits
        self.obuf = np.broadcast_to(obuf, (L, 1, 1)).reshape(L).copy()  # (L,): output-buffer bits

    # to be defined by each kind ---------------------------------------------------------------------
    def tables(
        self, a: np.ndarray, b: np.ndarray
    ) -> tuple[dict[str, dict[int, np.ndarray]], dict[int, np.ndarray], np.ndarray, np.ndarray]:
        """The ``f(a, b)`` of every quantity by block, the weight-independent ``f(a)`` (activation reads),
        the output write bits and the output-buffer bits of one call of each layer."""
        raise NotImplementedError

    def memory(self, w_dram: np.ndarray, act_rd: np.ndarray, group_bits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """DRAM bits and memory cycles per layer.

        ``w_dram``: weight bits of each layer as stored in DRAM; ``act_rd``: activation read bits;
        ``group_bits``: sum of the kernel bits of every group (only if :attr:`needs_group_bits`).
        """
        raise NotImplementedError
