"""``autoq evaluate``: top-1 / top-5 of a float or quantized model."""

from __future__ import annotations

import argparse

from autoq.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy of a float or quantized model",
        description="Top-1 and top-5 accuracy of a model on a data split, in float or under a policy "
        "(a policy file or uniform:W:A). A quantized model's activations are calibrated on the "
        "calibration split first.",
    )
    common.add_model_args(p)
    common.add_data_args(p)
    p.add_argument("--policy", default=None, help="policy JSON file or uniform:W:A (default: float)")
    p.add_argument("--split", default="test", choices=["test", "reward", "calib", "train"], help="split to evaluate")
    p.add_argument("--seed", type=int, default=0, help="seed of the split assignment")
    p.add_argument("--weight-clip", default="mse", choices=["mse", "max"], help="weight clip per kernel")
    p.add_argument("--act-clip", default="mse", choices=["mse", "percentile", "max"], help="activation clip")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.data import iterate_batches, make_splits
    from autoq.engine.device import resolve_device
    from autoq.engine.loops import evaluate
    from autoq.quant import Policy, apply_policy, calibrate

    device = resolve_device(args.device)
    model, spec, disc = common.build_model(args)
    data = common.load_data(args, spec)
    splits = make_splits(data, calib_size=args.calib_size, reward_size=args.reward_size, seed=args.seed)
    label = "float32"
    if args.policy:
        policy = Policy.parse_spec(args.policy, disc.layers)
        model = apply_policy(model, policy, weight_clip=args.weight_clip, act_clip=args.act_clip).to(device)
        calibrate(model, iterate_batches(splits.calib, args.batch_size), device)
        label = args.policy
    model.to(device)
    acc = evaluate(model, iterate_batches(getattr(splits, args.split), args.batch_size, num_workers=args.workers), device)
    common.emit(
        args,
        acc.to_dict(),
        f"{spec.name} [{label}] on {data.name} {args.split}: top-1 {100 * acc.top1:.2f} %, "
        f"top-5 {100 * acc.top5:.2f} % ({acc.n} images)",
    )
    return 0
