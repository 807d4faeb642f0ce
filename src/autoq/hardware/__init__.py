"""Hardware cost models: latency, energy and FPGA area of a kernel-wise policy on an accelerator.

Two analytic accelerators for the Xilinx Zynq-7020: ``temporal`` (bit-serial, BISMO-like) and
``spatial`` (bit-fusion, BitFusion-like), described by YAML files (see ``docs/hardware-models.md``)::

    acc = load_accelerator("temporal")           # or "spatial", or a path to a YAML file
    model = CostModel(layers, acc)                # per-layer constants, once per model
    report = model.evaluate(policy)               # CostReport; model.totals(...) is the fast path
"""

from autoq.hardware.accelerator import (
    ACCELERATORS,
    Accelerator,
    SpatialAccelerator,
    TemporalAccelerator,
    accelerator_from_dict,
    load_accelerator,
)
from autoq.hardware.cost import Area, CostModel, CostReport, LayerCost, cost

__all__ = [
    "ACCELERATORS",
    "Accelerator",
    "Area",
    "CostModel",
    "CostReport",
    "LayerCost",
    "SpatialAccelerator",
    "TemporalAccelerator",
    "accelerator_from_dict",
    "cost",
    "load_accelerator",
]
