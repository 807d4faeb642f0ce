"""Arguments and helpers shared by the subcommands: model, data, output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from autoq.errors import AutoQError

DEFAULT_MODEL = "digits-cnn"


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=None,
        help="registered model name (see `autoq inspect --list`), path/to/file.py:factory, or a TorchScript file; "
        f"default: the embedded {DEFAULT_MODEL} (trained once on digits and cached)",
    )
    g.add_argument("--weights", default=None, help="state-dict checkpoint to load (loaded with weights_only=True)")
    g.add_argument("--pretrained", action="store_true", help="torchvision's pretrained weights (needs a network)")
    g.add_argument("--num-classes", type=int, default=None, help="classes of the model's output layer")
    g.add_argument("--input-shape", default=None, help="input shape C,H,W (for user models; default: the model's)")
    g.add_argument(
        "--trust-checkpoint", action="store_true",
        help="allow loading a model pickled whole (runs code from the file: only for files you trust)",
    )


def add_data_args(p: argparse.ArgumentParser, splits: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=None, help="data set name (default: the model's own)")
    g.add_argument("--data-dir", default=None, help="folder holding the data set (default: per data set)")
    g.add_argument("--batch-size", type=int, default=256, help="images per batch for evaluation")
    g.add_argument("--workers", type=int, default=0, help="data-loading worker processes (folder data sets)")
    if splits:
        g.add_argument("--calib-size", type=int, default=256, help="calibration images, held out of the training split")
        g.add_argument("--reward-size", type=int, default=1000, help="reward images (search accuracy), held out of training")


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise AutoQError(f"--input-shape {text!r} is not C,H,W (e.g. 3,224,224)") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise AutoQError(f"--input-shape {text!r} must be three positive integers C,H,W")
    return shape


def build_model(args: argparse.Namespace):
    """The model the arguments name (weights loaded, eval mode), its spec and its discovered layers."""
    import torch

    from autoq.models import create_model, default_model, model_spec
    from autoq.quant import discover_layers

    if args.model is None and args.weights is None and not args.pretrained:
        model, _ = default_model()
        spec = model_spec(DEFAULT_MODEL)
    else:
        name = args.model or DEFAULT_MODEL
        spec = model_spec(name, input_shape=parse_shape(args.input_shape), num_classes=args.num_classes)
        model = create_model(
            name, weights=args.weights, num_classes=args.num_classes, pretrained=args.pretrained,
            input_shape=parse_shape(args.input_shape), trust_checkpoint=args.trust_checkpoint,
        )
    model.eval()
    discovery = discover_layers(model, torch.zeros(1, *spec.input_shape))
    return model, spec, discovery


def load_data(args: argparse.Namespace, spec: Any):
    """The data set the arguments name, preprocessed for ``spec``'s model."""
    from autoq.data import load_dataset

    name = args.dataset or spec.default_dataset
    if name is None:
        raise AutoQError(f"model {spec.name!r} has no default data set: pass --dataset")
    return load_dataset(name, args.data_dir, input_shape=spec.input_shape, num_classes=spec.num_classes)


def emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    """Print ``obj`` as JSON with ``--json``, else ``text``."""
    if getattr(args, "json", False):
        json.dump(obj, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text)


def format_table(rows: Sequence[dict], columns: Sequence[str], formats: dict[str, str] | None = None) -> str:
    """Aligned plain-text table; numbers right-aligned, ``formats`` maps a column to a format spec."""
    formats = formats or {}
    cells = [[format(r.get(c, ""), formats.get(c, "")) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(row) for row in cells])
