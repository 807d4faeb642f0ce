"""``autoq finetune``: quantization-aware finetuning of a policy."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoq.cli import common
from autoq.config import FinetuneConfig, RunConfig, SearchConfig, add_dataclass_args, build, given, load_yaml
from autoq.errors import AutoQError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="finetune a quantized policy (SGD with the straight-through estimator)",
        description="Quantization-aware finetuning of a policy: SGD with a fixed learning rate, the epoch with the best "
        "reward-split accuracy kept (equal accuracies: the lower reward-split loss), "
        "then top-1 / top-5 on the test split against the float model on the same images. "
        "Give --policy FILE with the model and data flags, or --run DIR to finetune a search's best policy with the "
        "search's settings. Writes finetuned.pt, finetune.csv and finetune.json to --out (or the run folder).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--policy", help="policy JSON file or uniform:W:A")
    src.add_argument("--run", help="search run folder: its best policy and settings")
    p.add_argument("--config", default=None, help="YAML file of settings (RunConfig and FinetuneConfig fields)")
    p.add_argument("--resume", action="store_true", help="continue from the last finetuning checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p.add_argument_group("model, data and run"), RunConfig)
    add_dataclass_args(p.add_argument_group("finetuning"), FinetuneConfig)
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.engine.setup import build_model
    from autoq.quant import Policy
    from autoq.runs import folder as rf
    from autoq.train.finetune import finetune

    values = load_yaml(args.config) if args.config else {}
    ft_values = values.pop("finetune_options", {}) or {}
    if args.run:
        run_dir = Path(args.run)
        if not (run_dir / rf.CONFIG).exists() or not (run_dir / rf.BEST_POLICY).exists():
            raise AutoQError(f"--run {args.run!r}: not a finished search folder (needs {rf.CONFIG} and {rf.BEST_POLICY})")
        saved = load_yaml(run_dir / rf.CONFIG)
        ft_values = {**(saved.get("finetune_options") or {}), **ft_values}
        values = {**{k: v for k, v in saved.items() if k in RunConfig.__dataclass_fields__}, **values}
        values.setdefault("out", str(run_dir))
    # a search config file also works here: its search-only settings are ignored, unknown keys still fail
    values = {
        k: v for k, v in values.items() if k in RunConfig.__dataclass_fields__ or k not in SearchConfig.__dataclass_fields__
    }
    values.update(given(args, RunConfig))
    cfg = build(RunConfig, values, args.config or "settings")
    ft = build(FinetuneConfig, {**ft_values, **given(args, FinetuneConfig)}, "finetune settings")
    cfg.validate()
    if args.run:
        policy = Path(args.run) / rf.BEST_POLICY
    elif args.policy.startswith("uniform:"):
        policy = Policy.parse_spec(
            args.policy,
            build_model(cfg.model, cfg.weights, cfg.pretrained, cfg.num_classes, cfg.input_shape, cfg.trust_checkpoint).layers,
        )
    else:
        policy = args.policy
    out = cfg.out or f"runs/{Path((cfg.model or 'digits-cnn').split(':')[0]).stem}-finetune-seed{cfg.seed}"
    result = finetune(policy, cfg, ft, run_dir=out, resume=args.resume, progress=not args.quiet)
    text = (
        f"finetuned policy: test top-1 {100 * result.top1:.2f} %, top-5 {100 * result.top5:.2f} % ({result.n} images); "
        f"float {100 * result.float_top1:.2f} % on the same images ({100 * (result.top1 - result.float_top1):+.2f} points)\n"
        f"reward-split top-1 {100 * result.reward_top1_before:.2f} % before, {100 * result.reward_top1_after:.2f} % after "
        f"(best epoch {result.best_epoch})\nweights: {result.weights}"
    )
    common.emit(args, result.to_dict(), text)
    return 0
