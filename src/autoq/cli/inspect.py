"""``autoq inspect``: the quantizable layers of a model."""

from __future__ import annotations

import argparse

from autoq.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="list a model's quantizable layers",
        description="Run one forward pass and list the quantizable layers (Conv2d, Linear) in forward order, "
        "with their shapes, weights and MACs. --list shows the registered models and data sets instead.",
    )
    common.add_model_args(p)
    p.add_argument("--list", action="store_true", help="list registered models and data sets")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        from autoq.data import list_datasets
        from autoq.models import list_models

        models, datasets = list_models(), list_datasets()
        common.emit(
            args,
            {"models": models, "datasets": datasets},
            f"models ({len(models)}):\n  " + "\n  ".join(models) + f"\ndata sets ({len(datasets)}):\n  " + "\n  ".join(datasets),
        )
        return 0
    _, spec, disc = common.build_model(args)
    rows = []
    for layer in disc.layers:
        s = layer.summary()
        rows.append(
            {
                "#": s["index"],
                "name": s["name"],
                "type": s["type"],
                "shape": f"{s['c_out']}x{s['c_in'] // s['groups']}x{s['kernel'][0]}x{s['kernel'][1]}",
                "stride": s["stride"][0],
                "groups": s["groups"],
                "in": f"{s['in_hw'][0]}x{s['in_hw'][1]}",
                "out": f"{s['out_hw'][0]}x{s['out_hw'][1]}",
                "params": s["params"],
                "MACs": s["macs"],
            }
        )
    total_params = sum(l.params for l in disc.layers)
    total_macs = sum(l.macs * l.calls for l in disc.layers)
    text = common.format_table(rows, list(rows[0]) if rows else ["name"], {"params": ",", "MACs": ","})
    text += f"\n\n{len(disc.layers)} quantizable layers, {total_params:,} weights, {total_macs:,} MACs per image"
    for w in disc.warnings():
        text += f"\nwarning: {w}"
    common.emit(
        args,
        {
            "model": spec.name,
            "input_shape": list(spec.input_shape),
            "layers": [l.summary() for l in disc.layers],
            "params": total_params,
            "macs": total_macs,
            "reused": disc.reused,
            "unreached": disc.unreached,
        },
        text,
    )
    return 0
