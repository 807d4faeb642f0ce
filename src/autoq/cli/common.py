"""Arguments and helpers shared by the subcommands: model, data, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from autoq.config import RunConfig, add_dataclass_args

MODEL_FIELDS = ("model", "weights", "pretrained", "num_classes", "input_shape", "trust_checkpoint")
DATA_FIELDS = ("dataset", "data_dir", "calib_size", "reward_size", "batch_size", "workers")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --weights, ... (the model fields of :class:`~autoq.config.RunConfig`)."""
    add_dataclass_args(p.add_argument_group("model"), RunConfig, only=MODEL_FIELDS, keep_defaults=True)


def add_data_args(p: argparse.ArgumentParser) -> None:
    """--dataset, --data-dir, split sizes and batch size (the data fields of RunConfig)."""
    add_dataclass_args(p.add_argument_group("data"), RunConfig, only=DATA_FIELDS, keep_defaults=True)


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def check_run_args(args: argparse.Namespace) -> None:
    """Validate the run settings among ``args`` with the checks of config files and searches."""
    from autoq.config import build, given

    build(RunConfig, given(args, RunConfig), "settings").validate()


def build_model(args: argparse.Namespace):
    """The model the arguments name (weights loaded, eval mode), its spec and its discovered layers."""
    from autoq.engine.setup import build_model as build

    work = build(args.model, args.weights, args.pretrained, args.num_classes, args.input_shape, args.trust_checkpoint)
    return work.model, work.spec, work.discovery


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
