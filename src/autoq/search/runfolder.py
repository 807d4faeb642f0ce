"""The files of a run folder: resolved config, episode table, best policy, checkpoint.

Every file is written atomically, so an interrupted run always leaves a consistent folder that
``--resume`` continues.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
import yaml

from autoq.errors import AutoQError
from autoq.utils.io import atomic_torch_save, atomic_write_text, atomic_write_yaml

CONFIG = "config.yaml"
EPISODES = "episodes.csv"
BEST_POLICY = "best_policy.json"
CHECKPOINT = "checkpoint.pt"
REFERENCES = "references.json"
SUMMARY = "summary.json"
FINETUNED = "finetuned.pt"
FINETUNE_CSV = "finetune.csv"
FINETUNE_JSON = "finetune.json"
FINETUNE_CHECKPOINT = "finetune_checkpoint.pt"
CHECKPOINT_FORMAT = "autoq.checkpoint"

# settings that may change when a run is resumed: they do not change what an episode computes
RESUMABLE_CHANGES = {"episodes", "device", "workers", "out", "finetune", "finetune_options"}


def prepare(run_dir: Path, config: dict, resume: bool) -> bool:
    """Create or check the run folder; returns whether there is a checkpoint to resume from.

    A new run refuses a folder that already holds one; a resumed run refuses settings that differ
    from the saved ones, naming the first that does.
    """
    ckpt = run_dir / CHECKPOINT
    saved_cfg = run_dir / CONFIG
    if not resume:
        if ckpt.exists():
            raise AutoQError(f"run folder {str(run_dir)!r} already holds a search: pass --resume to continue it, or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_yaml(saved_cfg, config)
        return False
    if not saved_cfg.exists():
        raise AutoQError(f"--resume: {str(run_dir)!r} holds no run (no {CONFIG}); start it without --resume")
    saved = yaml.safe_load(saved_cfg.read_text()) or {}
    for key in sorted(set(saved) | set(config)):
        if key in RESUMABLE_CHANGES:
            continue
        if saved.get(key) != config.get(key):
            raise AutoQError(
                f"--resume: setting {key!r} is {config.get(key)!r} but the run was started with {saved.get(key)!r}; "
                "resume with the same settings or start a new run folder"
            )
    atomic_write_yaml(saved_cfg, config)
    return ckpt.exists()


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_torch_save(path, {"format": CHECKPOINT_FORMAT, "version": 1, **state})


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`save_checkpoint`, loaded without executing pickled code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise AutoQError(f"cannot read checkpoint {str(path)!r}: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise AutoQError(f"{str(path)!r} is not an autoq checkpoint")
    return state


def write_rows(path: Path, rows: list[dict]) -> None:
    """The whole table, rewritten atomically (a few hundred rows: cheap, and never half written)."""
    if not rows:
        return
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV written by :func:`write_rows`, numbers parsed back."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(v: str) -> Any:
    if v in ("True", "False"):
        return v == "True"
    for tp in (int, float):
        try:
            return tp(v)
        except ValueError:
            pass
    return v
