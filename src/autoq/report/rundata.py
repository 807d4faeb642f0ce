"""A search run folder as the report reads it: its files, the model's layers and the costs of its policies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autoq.engine.setup import DEFAULT_MODEL, build_model
from autoq.errors import AutoQError
from autoq.export import model_sizes
from autoq.export.exporter import FILE_NAMES
from autoq.hardware import CostModel, load_accelerator
from autoq.quant import Policy, quantized
from autoq.runs import folder as rf

EXPORT_DIR = "export"
REFERENCES = ("uniform8", "uniform4")
REF_LABELS = {"uniform8": "uniform 8/8", "uniform4": "uniform 4/4"}


@dataclass
class RunData:
    """Everything the report shows, read from a run folder (costs recomputed from the layer geometry)."""

    run_dir: Path
    config: dict
    rows: list[dict]
    references: dict
    layers: list  # autoq.quant.LayerInfo, forward order
    policy: Any  # autoq.quant.Policy, or None when no episode met the budget
    best: dict
    costs: dict[str, Any] = field(default_factory=dict)  # "best" / "uniform8" / "uniform4" -> CostReport
    sizes: Any = None  # autoq.export.ModelSizes of the best policy
    finetune: dict | None = None
    finetune_rows: list[dict] = field(default_factory=list)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        lines = str(e).strip().splitlines()
        raise AutoQError(f"cannot read {str(path)!r}: {lines[0] if lines else type(e).__name__}") from None


def load_run(run_dir: str | Path) -> RunData:
    """The run folder's files, the model's layers and the per-layer costs of the best and reference policies."""

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AutoQError(f"run folder {str(run_dir)!r} does not exist")
    rows = rf.read_rows(run_dir / rf.EPISODES)
    if not rows:
        raise AutoQError(
            f"{str(run_dir)!r} holds no search episodes ({rf.EPISODES} is missing or empty): "
            f"run `autoq search --out {run_dir}` first"
        )
    for name in (rf.CONFIG, rf.REFERENCES):
        if not (run_dir / name).is_file():
            raise AutoQError(f"{str(run_dir)!r} has no {name}: not a folder written by autoq search")
    config = rf.read_yaml(run_dir / rf.CONFIG)
    references = _read_json(run_dir / rf.REFERENCES)
    missing = [k for k in REFERENCES if k not in references]
    if missing:
        raise AutoQError(f"{str(run_dir / rf.REFERENCES)!r} lacks the {missing[0]!r} reference")

    # the geometry is all the costs and sizes need: build the architecture without loading weights
    work = build_model(
        config.get("model") or DEFAULT_MODEL,
        None,
        False,
        config.get("num_classes"),
        config.get("input_shape"),
        bool(config.get("trust_checkpoint")),
    )
    layers = work.layers
    policy = Policy.load(run_dir / rf.BEST_POLICY, layers) if (run_dir / rf.BEST_POLICY).is_file() else None
    summary = _read_json(run_dir / rf.SUMMARY) if (run_dir / rf.SUMMARY).is_file() else {}
    best = summary.get("best") or {}
    if policy is not None and not best:  # search still running: the best row is in the table
        episode = policy.meta.get("episode")
        best = next((r for r in rows if r["episode"] == episode), {})

    cost_model = CostModel(
        layers, load_accelerator(config.get("hardware", "temporal")), sort_kernels=bool(config.get("sort_kernels", True))
    )
    costs = {
        "uniform8": cost_model.evaluate(Policy.uniform(layers, 8, 8)),
        "uniform4": cost_model.evaluate(Policy.uniform(layers, 4, 4)),
    }
    data = RunData(run_dir, config, rows, references, layers, policy, best, costs)
    if policy is not None:
        data.costs["best"] = cost_model.evaluate(policy)
        data.sizes = _sizes(work, policy, run_dir / EXPORT_DIR)
    if (run_dir / rf.FINETUNE_JSON).is_file():
        data.finetune = _read_json(run_dir / rf.FINETUNE_JSON)
        data.finetune_rows = rf.read_rows(run_dir / rf.FINETUNE_CSV)
    return data


def _sizes(work, policy, export_dir: Path) -> Any:
    """Bytes of the best policy as float32, uniform 8-bit and packed, and of the export files present."""

    # byte counts depend on the bit widths and the layer shapes only, not on the values:
    # one random batch gives every layer the activation range the export needs
    batch = torch.randn(2, *work.spec.input_shape, generator=torch.Generator().manual_seed(0))
    qmodel = quantized(work.model, policy, [batch], weight_clip="max", act_clip="max")
    files = {fmt: export_dir / name for fmt, name in FILE_NAMES.items() if (export_dir / name).is_file()}
    return model_sizes(qmodel, files)
