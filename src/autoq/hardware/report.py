"""What a cost evaluation reports: per-layer costs, FPGA resources and the totals of one policy.

:class:`~autoq.hardware.cost.CostModel` fills these; ``autoq cost --json`` prints their dictionaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer. Latency and energy cover all its calls; cycles and DRAM bits one call."""

    name: str
    latency_s: float
    energy_j: float
    energy_parts_j: dict[str, float]  # compute, buffers, dram, static
    bram36: int  # BRAM36 its quantized weights would take on chip (counted in the area only if resident)
    bound: str  # "compute" or "memory"
    limited_by: str  # "compute", "weight traffic" or "activation traffic" (LIMITS)
    cycles: int  # max(compute_cycles, memory_cycles) + fill_cycles
    compute_cycles: int
    memory_cycles: int
    fill_cycles: int
    dram_bits: int
    calls: int
    # spatial only: the precisions the fusion units run at, {"weights": [r(b) of the kernels], "act": r(a)}
    fused_bits: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["fused_bits"] is None:
            del d["fused_bits"]
        return d


class LayerCosts(NamedTuple):
    """What one layer adds to the network's budgeted totals (:meth:`CostModel.layer_costs`)."""

    latency_s: float
    energy_j: float
    bram36: int  # weight BRAM36 the area counts: 0 unless the board keeps weights on chip


@dataclass(frozen=True)
class Area:
    """FPGA resources: the accelerator plus, where weights stay on chip, their BRAM36; the utilisation scalar."""

    lut: int
    ff: int
    bram36: int  # bram36_accelerator + bram36_weights
    dsp: int
    utilisation: float  # max of the four resource ratios to the device
    bram36_accelerator: int
    bram36_weights: int  # 0 unless weights_on_chip
    weights_on_chip: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CostReport:
    """Totals and per-layer costs of one policy (latency in s, energy in J)."""

    accelerator: str
    kind: str
    sort_kernels: bool
    latency_s: float
    energy_j: float
    energy_parts_j: dict[str, float]
    area: Area
    layers: list[LayerCost]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``autoq cost --json``."""
        return {
            "accelerator": self.accelerator,
            "kind": self.kind,
            "sort_kernels": self.sort_kernels,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "energy_parts_j": dict(self.energy_parts_j),
            "area": self.area.to_dict(),
            "layers": [l.to_dict() for l in self.layers],
        }


ENERGY_PARTS = ("compute", "buffers", "dram", "static")
#: what bounds a layer: its compute cycles, or (memory-bound) the larger of its weight traffic (weights,
#: with any re-fetches) and its activation traffic (input reads and output writes)
LIMITS = ("compute", "weight traffic", "activation traffic")


def limited_by(compute_cycles: int, memory_cycles: int, weight_bits: int, activation_bits: int) -> str:
    """Which of :data:`LIMITS` sets a layer's cycles (ties go to compute, then to weights)."""
    if compute_cycles >= memory_cycles:
        return LIMITS[0]
    return LIMITS[1] if weight_bits >= activation_bits else LIMITS[2]
