"""Latency, energy and FPGA area of a kernel-wise policy on an accelerator.

:class:`CostModel` computes every per-layer constant once for a model and an accelerator; a policy
then costs one histogram of the kernel bit widths and a few small integer array operations for the
whole network (see :mod:`autoq.hardware.mapping`). Per layer::

    cycles  = max(compute cycles, memory cycles) + fill          (per call; a layer runs ``calls`` times)
    latency = calls · cycles / f
    energy  = κ·(ops + buffer accesses) + DRAM bits · e_DRAM + P_static · latency

and for the network: latency and energy are left-to-right sums over layers, and the utilisation is
``max(LUT/LUT_dev, FF/FF_dev, (BRAM36_acc + BRAM36_weights)/BRAM36_dev, DSP/DSP_dev)``, where
``BRAM36_weights = Σ_layers ceil(weight bits / bram36_bits)`` only on a board whose weights stay on chip
(``weights_on_chip: true``) and 0 otherwise (weights stream from DRAM, as the latency assumes).
:meth:`CostModel.totals`, :meth:`CostModel.layer_costs` and :meth:`CostModel.evaluate` give
bit-identical numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from autoq.errors import AutoQError
from autoq.hardware.accelerator import Accelerator, load_accelerator
from autoq.hardware.mapping import (
    N_QUANTITIES,
    Q_ACT,
    Q_CYCLES,
    Q_FILL,
    Q_IBUF,
    Q_OPS,
    Q_WBUF,
    Q_WDRAM,
    Q_WSTORE,
    Mapping,
)
from autoq.hardware.report import ENERGY_PARTS, Area, CostReport, LayerCost, LayerCosts, limited_by
from autoq.hardware.spatial import SpatialMapping
from autoq.hardware.temporal import TemporalMapping
from autoq.quant.policy import Policy

if TYPE_CHECKING:
    from autoq.quant.discovery import LayerInfo
    from autoq.quant.policy import Policy

MAPPINGS: dict[str, type[Mapping]] = {"temporal": TemporalMapping, "spatial": SpatialMapping}
PJ = 1e-12


class CostModel:
    """Per-layer constants of ``layers`` on ``accelerator``; evaluates policies many times, fast.

    ``sort_kernels`` (default on): kernels of each group are sorted by bit width before they are cut
    into tiles (output-channel order is free), so a tile's widest kernel is close to the others.
    ``batch``: images per inference (1 for embedded use).
    """

    def __init__(
        self,
        layers: Sequence[LayerInfo],
        accelerator: Accelerator | str | os.PathLike[str],
        sort_kernels: bool = True,
        batch: int = 1,
    ) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise AutoQError("cost model: the model has no quantizable layers")
        if not isinstance(batch, int) or batch < 1:
            raise AutoQError(f"cost model: batch must be a positive integer, got {batch!r}")
        self.accelerator = acc = load_accelerator(accelerator)
        self.sort_kernels = bool(sort_kernels)
        self.batch = batch
        self.mapping = m = MAPPINGS[acc.kind](self.layers, acc, batch)
        L, B1, D = len(self.layers), acc.max_bits + 1, m.tile_width
        groups = np.array([l.groups for l in self.layers], dtype=np.int64)
        cpg = np.array([l.c_out // l.groups for l in self.layers], dtype=np.int64)
        self._L, self._G, self._B1, self._D = L, int(groups.sum()), B1, D
        self._c_out = [l.c_out for l in self.layers]
        self._lidx = np.arange(L)
        group_cpg = np.repeat(cpg, groups)
        self._n_g = group_cpg[:, None]
        self._group_start = np.concatenate([[0], np.cumsum(groups)[:-1]]).astype(np.int64)
        self._gkey = np.repeat(np.arange(self._G, dtype=np.int64), group_cpg) * B1
        if not self.sort_kernels:
            self._build_tiles(group_cpg)
        self._calls = np.array([l.calls for l in self.layers], dtype=np.int64)
        self._ones = np.ones((L, 1), dtype=np.int64)
        self._b_range = np.arange(1, B1, dtype=np.int64)
        self._res = acc.resources()
        self._k_ops = acc.kappa * m.ops_pj * PJ
        self._k_w, self._k_i, self._k_o = (
            acc.kappa * e * PJ for e in (acc.wbuf_pj_per_bit, acc.ibuf_pj_per_bit, acc.obuf_pj_per_bit)
        )
        self._k_dram = acc.dram_pj_per_bit * PJ
        self._k_q = np.zeros(N_QUANTITIES)
        self._k_q[[Q_OPS, Q_WBUF, Q_IBUF]] = self._k_ops, self._k_w, self._k_i
        self._e_obuf = self._k_o * m.obuf
        self._calls_f = self._calls.astype(np.float64)
        self._s_per_cycle = self._calls_f / acc.clock_hz
        self._resident = acc.weights_on_chip
        self._bram_bits = acc.bram36_bits
        self._bram_round = acc.bram36_bits - 1
        self._single = lru_cache(maxsize=None)(self._make_single)

    def _build_tiles(self, group_cpg: np.ndarray) -> None:
        """Where every tile starts when each group is cut, in its original order, into tiles."""
        D = self._D
        n_tiles = -(-group_cpg // D)
        group_start = np.concatenate([[0], np.cumsum(group_cpg)[:-1]])
        offset = np.arange(int(n_tiles.sum())) - np.repeat(np.cumsum(n_tiles) - n_tiles, n_tiles)  # tile within group
        self._tile_start = np.repeat(group_start, n_tiles) + offset * D
        self._tile_key = np.repeat(np.arange(self._G, dtype=np.int64), n_tiles) * self._B1
        self._tile_size = np.minimum(D, np.repeat(group_cpg, n_tiles) - offset * D).astype(np.float64)
        self._first_tile = np.concatenate([[0], np.cumsum(n_tiles)[:-1]])[self._group_start]

    # the core ----------------------------------------------------------------------------------------
    def _run(self, bits: np.ndarray, a: np.ndarray, detail: bool = False) -> dict[str, np.ndarray]:
        """Per-layer arrays for checked, concatenated kernel bits and per-layer activation bits."""
        m, G, B1, D = self.mapping, self._G, self._B1, self._D
        # C[g, b-1]: kernels of group g with at least b bits
        H = np.bincount(self._gkey + bits, minlength=G * B1).reshape(G, B1)
        C = H[:, :0:-1].cumsum(1)[:, ::-1]
        if self.sort_kernels:
            # sorted widest first, tile t holds kernels t·D .. t·D+D-1: ceil(C/D) tiles reach b bits
            T = (C + (D - 1)) // D
            E = np.minimum(T * D, self._n_g)
            # the first tile (widest of the layer's first group) reaches b bits if any kernel does
            first = C[self._group_start] > 0 if G != self._L else C > 0
        else:
            tmax = np.maximum.reduceat(bits, self._tile_start)
            key = self._tile_key + tmax
            T = np.bincount(key, minlength=G * B1).reshape(G, B1)[:, :0:-1].cumsum(1)[:, ::-1]
            E = np.bincount(key, self._tile_size, minlength=G * B1).reshape(G, B1)[:, :0:-1].cumsum(1)[:, ::-1]
            E = E.astype(np.int64)
            first = tmax[self._first_tile][:, None] >= self._b_range
        group_bits = C.sum(1) if m.needs_group_bits else None
        if G != self._L:
            T, E, C = (np.add.reduceat(x, self._group_start, axis=0) for x in (T, E, C))
        X = np.concatenate((T, E, C, first, self._ones), axis=1)[:, None, :]
        q = np.matmul(X, m.delta[self._lidx, a])[:, 0, :]
        dram, mem = m.memory(q[:, Q_WDRAM], q[:, Q_ACT], group_bits)
        comp = q[:, Q_CYCLES]
        fill = q[:, Q_FILL]
        cycles = np.maximum(comp, mem) + fill
        latency = cycles * self._s_per_cycle
        # energy of one call, then all calls and static power; element-wise only, so that every path
        # through the model rounds the same way
        e_call = (q * self._k_q).sum(1) + self._e_obuf + self._k_dram * dram
        energy = e_call * self._calls_f + self.accelerator.static_power_w * latency
        out = {"latency": latency, "energy": energy, "bram": (q[:, Q_WSTORE] + self._bram_round) // self._bram_bits}
        if detail:
            calls = self._calls
            out.update(
                compute=self._k_ops * (q[:, Q_OPS] * calls),
                buffers=(self._k_w * q[:, Q_WBUF] + self._k_i * q[:, Q_IBUF] + self._e_obuf) * calls,
                dram=self._k_dram * (dram * calls),
                static=self.accelerator.static_power_w * latency,
                cycles=cycles,
                comp=comp,
                mem=mem,
                fill=fill,
                dram_bits=dram,
                act_traffic=q[:, Q_ACT] + m.out_wr,
                w_traffic=dram - q[:, Q_ACT] - m.out_wr,
            )
        return out

    def _utilisation(self, bram_weights: int) -> float:
        r, acc = self._res, self.accelerator
        return max(
            r["lut"] / acc.device_lut,
            r["ff"] / acc.device_ff,
            (r["bram36"] + bram_weights) / acc.device_bram36,
            r["dsp"] / acc.device_dsp,
        )

    def _check(self, weight_bits: Sequence[Any], act_bits: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated int64 kernel bits and activation bits, or an AutoQError naming the layer."""
        bmax = self.accelerator.max_bits
        if len(weight_bits) != self._L or len(act_bits) != self._L:
            raise AutoQError(
                f"cost: {len(weight_bits)} weight bit vectors and {len(act_bits)} activation bit widths "
                f"given for {self._L} layers"
            )
        if list(map(len, weight_bits)) != self._c_out:
            self._validate(weight_bits, act_bits)
        bits = np.concatenate(weight_bits)
        a = np.asarray(act_bits)
        if bits.dtype.kind not in "iu" or a.dtype.kind not in "iu":
            bits, a = _as_int(bits, "weight"), _as_int(a, "activation")
        if bits.dtype != np.int64:
            bits = bits.astype(np.int64)
        if bits.min() < 0 or bits.max() > bmax or a.min() < 1 or a.max() > bmax:
            self._validate(weight_bits, a)
        return bits, a

    def _validate(self, weight_bits: Sequence[Any], act_bits: Sequence[int]) -> None:
        """Raise the policy's own error (:meth:`Policy.validate`) for bits that do not fit the layers or
        the accelerator; the fast path above only detects that something is wrong."""

        names = [l.name for l in self.layers]
        self._validate_policy(Policy(dict(zip(names, weight_bits)), dict(zip(names, act_bits))))

    def _validate_policy(self, policy: Policy) -> None:
        """:meth:`Policy.validate` against these layers and the bits this accelerator runs."""
        bmax = self.accelerator.max_bits
        try:
            policy.validate(self.layers, weight_range=(0, bmax), act_range=(1, bmax))
        except AutoQError as e:
            what = f"the {self.accelerator.kind} accelerator {self.accelerator.name!r}"
            raise AutoQError(f"cost on {what} (weights 0..{bmax}, 0 prunes a kernel; activations 1..{bmax}): {e}") from None

    # public API --------------------------------------------------------------------------------------
    def totals(self, weight_bits: Sequence[np.ndarray], act_bits: Sequence[int]) -> tuple[float, float, float]:
        """(latency in s, energy in J, utilisation) of kernel bit vectors and activation bits, in layer order."""
        r = self._run(*self._check(weight_bits, act_bits))
        return sum(r["latency"].tolist()), sum(r["energy"].tolist()), self._utilisation(self.counted_bram36(r["bram"].sum()))

    def layer_costs(self, i: int, w_bits: np.ndarray, a_bits: int) -> LayerCosts:
        """Latency in s, energy in J and weight BRAM36 in the area of layer ``i`` alone: the terms :meth:`totals` sums.

        The BRAM36 is 0 unless the board keeps weights on chip (``weights_on_chip``).
        """
        if not 0 <= i < self._L:
            raise AutoQError(f"cost: layer index {i} is out of range (the model has {self._L} layers)")
        sub = self._single(i)
        r = sub._run(*sub._check([w_bits], [a_bits]))
        return LayerCosts(float(r["latency"][0]), float(r["energy"][0]), self.counted_bram36(r["bram"][0]))

    def counted_bram36(self, bram36_weights: Any) -> int:
        """The weight BRAM36 the area counts: all of them if weights stay on chip, else none."""
        return int(bram36_weights) if self._resident else 0

    @property
    def area_depends_on_bits(self) -> bool:
        """Whether any policy can change the area: only when weights stay on chip."""
        return self._resident

    def _make_single(self, i: int) -> CostModel:
        return CostModel([self.layers[i]], self.accelerator, self.sort_kernels, self.batch)

    def utilisation(self, bram36_weights: int) -> float:
        """The area scalar for a total of ``bram36_weights`` weight BRAM36 (sum of layer_costs' ``bram36``)."""
        return self._utilisation(int(bram36_weights))

    def fixed_bram36(self) -> int:
        """BRAM36 of the accelerator itself (its buffers), before any weights."""
        return self._res["bram36"]

    def device_bram36(self) -> int:
        """BRAM36 of the device: utilisation's BRAM term is (fixed + weight BRAM36) / this."""
        return self.accelerator.device_bram36

    def fixed_utilisation(self) -> float:
        """Utilisation of the accelerator alone (no weight storage): the floor of :meth:`utilisation`."""
        return self._utilisation(0)

    def evaluate_bits(self, weight_bits: Sequence[np.ndarray], act_bits: Sequence[int]) -> CostReport:
        """Full report for kernel bit vectors and activation bits in layer order."""
        bits, a = self._check(weight_bits, act_bits)
        r = self._run(bits, a, detail=True)
        as_list = {k: v.tolist() for k, v in r.items()}
        fused = self._fused_bits(weight_bits, a)
        layers = [
            LayerCost(
                name=l.name,
                latency_s=as_list["latency"][i],
                energy_j=as_list["energy"][i],
                energy_parts_j={p: as_list[p][i] for p in ENERGY_PARTS},
                bram36=as_list["bram"][i],
                bound="compute" if as_list["comp"][i] >= as_list["mem"][i] else "memory",
                limited_by=limited_by(as_list["comp"][i], as_list["mem"][i], as_list["w_traffic"][i], as_list["act_traffic"][i]),
                cycles=as_list["cycles"][i],
                compute_cycles=as_list["comp"][i],
                memory_cycles=as_list["mem"][i],
                fill_cycles=as_list["fill"][i],
                dram_bits=as_list["dram_bits"][i],
                calls=l.calls,
                fused_bits=fused[i],
            )
            for i, l in enumerate(self.layers)
        ]
        bram_w = self.counted_bram36(sum(as_list["bram"]))
        res = self._res
        return CostReport(
            accelerator=self.accelerator.name,
            kind=self.accelerator.kind,
            sort_kernels=self.sort_kernels,
            latency_s=sum(as_list["latency"]),
            energy_j=sum(as_list["energy"]),
            energy_parts_j={p: sum(as_list[p]) for p in ENERGY_PARTS},
            area=Area(
                lut=res["lut"],
                ff=res["ff"],
                bram36=res["bram36"] + bram_w,
                dsp=res["dsp"],
                utilisation=self._utilisation(bram_w),
                bram36_accelerator=res["bram36"],
                bram36_weights=bram_w,
                weights_on_chip=self._resident,
            ),
            layers=layers,
        )

    def _fused_bits(self, weight_bits: Sequence[Any], act_bits: np.ndarray) -> list[dict[str, Any] | None]:
        """Per layer, the precisions a spatial array's units fuse to (None on other kinds)."""
        run_bits = getattr(self.mapping, "run_bits", None)
        if run_bits is None:
            return [None] * self._L
        return [
            {"weights": sorted({int(x) for x in run_bits[np.asarray(w, np.int64)] if x > 0}), "act": int(run_bits[a])}
            for w, a in zip(weight_bits, act_bits.tolist())
        ]

    def evaluate(self, policy: Policy) -> CostReport:
        """Full report of a :class:`~autoq.quant.policy.Policy`."""
        self._validate_policy(policy)
        return self.evaluate_bits(policy.weight_list(self.layers), policy.act_list(self.layers))


def _as_int(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind in "iu":
        return arr
    if arr.dtype.kind != "f" or not np.array_equal(arr, np.round(arr)):
        raise AutoQError(f"cost: {what} bit widths must be integers")
    return arr.astype(np.int64)


def cost(
    layers: Sequence[LayerInfo],
    policy: Policy,
    accelerator: Accelerator | str | os.PathLike[str],
    sort_kernels: bool = True,
    batch: int = 1,
) -> CostReport:
    """One-off cost report (builds a :class:`CostModel`; keep the model to evaluate many policies)."""
    return CostModel(layers, accelerator, sort_kernels, batch).evaluate(policy)
