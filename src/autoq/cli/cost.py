"""``autoq cost``: latency, energy and FPGA area of a policy on an accelerator model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autoq.cli import common

if TYPE_CHECKING:
    from autoq.hardware import Accelerator
    from autoq.quant.discovery import LayerInfo
    from autoq.quant.policy import Policy


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cost",
        help="latency, energy and FPGA area of a bit-width policy on an accelerator model",
        description="Cost a bit-width policy (one weight bit width per kernel, one activation bit width per "
        "layer) on an analytic accelerator model of the Zynq-7020: 'temporal' (bit-serial, BISMO-like), "
        "'spatial' (bit-fusion, BitFusion-like) or your own YAML board file. Prints a per-layer table "
        "(latency, energy, weight BRAM, what bounds it: compute, weight traffic or activation traffic, and on "
        "the spatial accelerator the fused precisions its units run at) and the totals: latency in ms, energy "
        "in mJ split into compute, buffers, DRAM and static, FPGA resources and the utilisation scalar.",
    )
    common.add_model_args(p)
    p.add_argument(
        "--policy",
        default="uniform:8:8",
        help="policy JSON file, or uniform:W:A for every kernel at W bits and every activation at A (default: %(default)s)",
    )
    p.add_argument(
        "--hardware",
        default="temporal",
        help="accelerator: temporal, spatial, or a YAML board file (see docs/hardware-models.md; default: %(default)s)",
    )
    p.add_argument(
        "--no-sort",
        action="store_true",
        help="cut tiles from kernels in their original order (default: sorted by bit width, which the hardware allows)",
    )
    p.add_argument("--batch", type=int, default=1, help="images per inference (default: %(default)s)")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.hardware import load_accelerator
    from autoq.quant.policy import Policy

    _, spec, disc = common.build_model(args)
    accelerator = load_accelerator(args.hardware)
    policy = Policy.parse_spec(args.policy, disc.layers)
    obj, text = summarize(disc.layers, policy, accelerator, sort_kernels=not args.no_sort, batch=args.batch)
    obj = {"model": spec.name, "policy": args.policy, **obj}
    for w in disc.warnings():
        text += f"\nwarning: {w}"
    common.emit(args, obj, text)
    return 0


def summarize(
    layers: Sequence[LayerInfo],
    policy: Policy,
    accelerator: Accelerator | str,
    sort_kernels: bool = True,
    batch: int = 1,
) -> tuple[dict[str, Any], str]:
    """The JSON object and the text report of ``autoq cost`` for one policy."""
    from autoq.errors import AutoQError
    from autoq.hardware import CostModel

    if batch < 1:
        raise AutoQError(f"--batch must be a positive integer, got {batch}")
    report = CostModel(layers, accelerator, sort_kernels=sort_kernels, batch=batch).evaluate(policy)
    rows = [_layer_row(i, layer, lc, policy) for i, (layer, lc) in enumerate(zip(layers, report.layers))]
    table = common.format_table(rows, list(rows[0]), {"w bits": ".2f", "latency ms": ".4f", "energy mJ": ".4f"})
    a = report.area
    order = "sorted by bit width" if report.sort_kernels else "in original order"
    parts = ", ".join(f"{k} {v * 1e3:.3f}" for k, v in report.energy_parts_j.items())
    text = "\n".join(
        [
            table,
            "",
            f"accelerator  {report.accelerator} ({report.kind}), kernels {order} in tiles",
            f"latency      {report.latency_s * 1e3:.3f} ms",
            f"energy       {report.energy_j * 1e3:.3f} mJ ({parts})",
            f"resources    {a.lut:,} LUT, {a.ff:,} FF, {a.bram36:,} BRAM36 {_bram_note(report)}, {a.dsp} DSP",
            f"utilisation  {a.utilisation:.3f}{'  (above 1: does not fit the device)' if a.utilisation > 1 else ''}",
        ]
    )
    return report.to_dict(), text


def _layer_row(i: int, layer: LayerInfo, lc: Any, policy: Policy) -> dict[str, Any]:
    """One row of the text table: bits, costs, what bounds the layer and (spatial) the fused precisions."""
    row = {
        "#": i,
        "name": lc.name,
        "w bits": float(policy.weight_bits[layer.name].mean()),
        "a bits": policy.act_bits[layer.name],
        "latency ms": lc.latency_s * 1e3,
        "energy mJ": lc.energy_j * 1e3,
        "weight BRAM36": lc.bram36,
        "limited by": lc.limited_by,
    }
    if lc.fused_bits is not None:
        row["fused w/a"] = f"{','.join(map(str, lc.fused_bits['weights'])) or '-'}/{lc.fused_bits['act']}"
    return row


def _bram_note(report: Any) -> str:
    """Where the BRAM36 go, and whether the weights' storage is part of the area."""
    a = report.area
    if a.weights_on_chip:
        return f"({a.bram36_accelerator} accelerator + {a.bram36_weights} resident weights)"
    held = sum(l.bram36 for l in report.layers)
    return f"(accelerator; weights stream from DRAM, holding them on chip would take {held} more)"
