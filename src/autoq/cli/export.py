"""``autoq export``: write a quantized model as packed safetensors, ONNX (QDQ) or QONNX, checked and sized."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoq.cli import common
from autoq.config import RunConfig, add_dataclass_args, build, given, load_yaml
from autoq.errors import AutoQError

FORMAT_CHOICES = ("packed", "onnx", "qonnx", "all")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a quantized model (packed safetensors, ONNX QDQ, QONNX for FINN)",
        description="Export a quantized model for deployment. Give a search RUN_DIR (its best policy, its settings and "
        "finetuned.pt when present, else calibrated afresh) or --policy FILE|uniform:W:A with the model and data "
        "flags. Batch norms after a conv are folded into the kernel scales and biases (--no-fold-bn keeps them). "
        "Each export is run on test images and compared with PyTorch, and its size is compared with float32 and "
        "uniform 8-bit. Formats: docs/export.md.",
    )
    p.add_argument("run", nargs="?", metavar="RUN_DIR", help="search run folder (config.yaml, best_policy.json)")
    p.add_argument("--policy", default=None, help="policy JSON file or uniform:W:A (instead of RUN_DIR)")
    p.add_argument(
        "--format",
        nargs="+",
        choices=FORMAT_CHOICES,
        default=["all"],
        dest="formats",
        help="formats to write (default: all): packed (safetensors, bit-packed codes), onnx (QDQ), qonnx (FINN)",
    )
    p.add_argument("--out", default=None, help="export folder (default: RUN_DIR/export, else exports/<model>-<policy>)")
    p.add_argument(
        "--fold-bn",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fold batch norms into the kernel scales and biases (default: on)",
    )
    p.add_argument(
        "--check-images",
        type=int,
        default=32,
        help="test images each export is checked on (qonnx: at most 8; 0 skips the checks)",
    )
    p.add_argument("--config", default=None, help="YAML file of settings (RunConfig fields)")
    add_dataclass_args(p.add_argument_group("model, data and run"), RunConfig, skip=("out",))
    common.add_json_arg(p)
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> tuple[RunConfig, Path | None]:
    """The run settings: a run folder's config.yaml < --config < flags."""
    from autoq.runs import folder as rf

    if (args.run is None) == (args.policy is None):
        raise AutoQError("give a search RUN_DIR or --policy FILE|uniform:W:A (one of them)")
    values = load_yaml(args.config) if args.config else {}
    run_dir = None
    if args.run is not None:
        run_dir = Path(args.run)
        if not (run_dir / rf.CONFIG).is_file() or not (run_dir / rf.BEST_POLICY).is_file():
            raise AutoQError(f"{args.run!r} is not a finished search folder (needs {rf.CONFIG} and {rf.BEST_POLICY})")
        saved = load_yaml(run_dir / rf.CONFIG)
        values = {**{k: v for k, v in saved.items() if k in RunConfig.__dataclass_fields__}, **values}
    values = {k: v for k, v in values.items() if k in RunConfig.__dataclass_fields__}
    values.update(given(args, RunConfig))
    values.pop("out", None)
    cfg = build(RunConfig, values, args.config or "settings")
    cfg.validate()
    return cfg, run_dir


def run(args: argparse.Namespace) -> int:
    import torch

    from autoq.data import iterate_batches
    from autoq.engine.setup import build_workload
    from autoq.export.exporter import FORMATS, export_model
    from autoq.quant import Policy, apply_policy, quantized
    from autoq.runs import folder as rf

    if args.check_images < 0:
        raise AutoQError("--check-images must be 0 or more")
    cfg, run_dir = _settings(args)
    work = build_workload(cfg)
    if run_dir is not None:
        policy = Policy.load(run_dir / rf.BEST_POLICY, work.layers)
        source = str(run_dir)
    else:
        policy = Policy.parse_spec(args.policy, work.layers)
        source = args.policy
    clips = {"weight_clip": cfg.weight_clip, "act_clip": cfg.act_clip}
    finetuned = run_dir is not None and (run_dir / rf.FINETUNED).is_file()
    if finetuned:
        qmodel = apply_policy(work.model, policy, **clips)
        path = run_dir / rf.FINETUNED
        try:
            qmodel.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:  # a truncated file, a foreign pickle or another model's state
            raise AutoQError(f"{path}: not the finetuned state of this model and policy ({str(e).splitlines()[0]})") from None
    else:
        from autoq.engine.device import resolve_device

        device = resolve_device(cfg.device)
        qmodel = quantized(work.model, policy, iterate_batches(work.splits.calib, cfg.batch_size), **clips, device=device)
    qmodel.cpu().eval()

    images = next(iterate_batches(work.splits.test, max(args.check_images, 1)))[0]
    out = (
        Path(args.out)
        if args.out
        else (run_dir / "export" if run_dir is not None else Path("exports") / f"{_stem(work.spec.name)}-{_stem(args.policy)}")
    )
    rf.make_folder(out, "export folder")
    formats = list(FORMATS) if "all" in args.formats else list(dict.fromkeys(args.formats))
    meta = {"model": work.spec.name, "weights": cfg.weights, "dataset": work.data.name, "source": source, "finetuned": finetuned}
    result = export_model(
        qmodel,
        out,
        images[:1],
        formats=formats,
        check_input=images if args.check_images else None,
        architecture=work.model,
        fold_bn=args.fold_bn,
        policy=policy,
        meta=meta,
    )
    common.emit(args, result.to_dict(), _text(result, finetuned, args.fold_bn))
    failed = [f for f, a in result.checks.items() if not a.ok()]
    if failed:
        raise AutoQError(f"the {', '.join(failed)} export does not match PyTorch (see the table above)")
    return 0


def _stem(name: str) -> str:
    """A file-name part for a model or policy name: ``resnet20``, ``net`` for ``dir/net.py:build``, ``uniform44``."""
    return name.replace(":", "") if name.startswith("uniform:") else Path(name.split(":")[0]).stem


def _text(result, finetuned: bool, fold_bn: bool) -> str:
    head = (
        f"exported to {result.out_dir} ({'finetuned weights' if finetuned else 'calibrated'}, "
        f"batch norm {'folded' if fold_bn else 'kept'})"
    )
    sizes = common.format_table(
        result.sizes.rows(), ["size", "bytes", "vs_float32", "vs_uniform8"], {"vs_float32": ".3f", "vs_uniform8": ".3f"}
    )
    text = f"{head}\n{sizes}"
    if result.checks:
        rows = [
            {
                "format": fmt,
                "images": a.images,
                "result": "ok" if a.ok() else "FAILED",
                "forced_err": a.forced_rel_error,
                "max_err": a.max_rel_error,
                "median_err": a.median_rel_error,
                "top1_agree": a.top1_agreement,
                "code_flips": a.code_mismatch,
            }
            for fmt, a in result.checks.items()
        ]
        fmt = {"forced_err": ".1e", "max_err": ".1e", "median_err": ".1e", "top1_agree": ".3f", "code_flips": ".1e"}
        text += "\n\nagainst PyTorch (forced: every layer fed the export's activation codes)\n"
        text += common.format_table(rows, list(rows[0]), fmt)
    return text + "\n\nfiles: " + ", ".join(str(p) for p in result.files.values())
