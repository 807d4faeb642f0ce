"""``autoq evaluate``: top-1 / top-5 of a float or quantized model."""

from __future__ import annotations

import argparse

from autoq.cli import common
from autoq.errors import AutoQError


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
    p.add_argument(
        "--split",
        default="test",
        choices=["test", "holdout", "reward", "calib", "train"],
        help="split to evaluate (holdout: data sets with a held-out part, e.g. cifar10-jpeg)",
    )
    common.add_dataclass_args(p, common.RunConfig, only=("seed", "weight_clip", "act_clip", "device"), keep_defaults=True)
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.data import iterate_batches
    from autoq.engine.device import resolve_device
    from autoq.engine.loops import evaluate
    from autoq.engine.setup import attach_data, build_model
    from autoq.quant import Policy, quantized

    common.check_run_args(args)
    device = resolve_device(args.device)
    work = build_model(args.model, args.weights, args.pretrained, args.num_classes, args.input_shape, args.trust_checkpoint)
    attach_data(work, args.dataset, args.data_dir, args.calib_size, args.reward_size, args.seed)
    model, label = work.model, "float32"
    if args.policy:
        policy = Policy.parse_spec(args.policy, work.layers)
        calib = iterate_batches(work.splits.calib, args.batch_size)
        model = quantized(model, policy, calib, weight_clip=args.weight_clip, act_clip=args.act_clip, device=device)
        label = args.policy
    model.to(device)
    split = getattr(work.splits, args.split)
    if split is None:
        raise AutoQError(f"{work.data.name} has no holdout split; choose --split test, reward, calib or train")
    batches = iterate_batches(split, args.batch_size, num_workers=args.workers)
    acc = evaluate(model, batches, device)
    common.emit(
        args,
        acc.to_dict(),
        f"{work.spec.name} [{label}] on {work.data.name} {args.split}: top-1 {100 * acc.top1:.2f} %, "
        f"top-5 {100 * acc.top5:.2f} % ({acc.n} images)",
    )
    return 0
