"""The files of a run folder: resolved config, episode table, best policy, checkpoint.

Every file is written atomically, so an interrupted run always leaves a consistent folder that
``--resume`` continues.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch

from autoq.errors import AutoQError
from autoq.runs.fingerprints import first_difference
from autoq.utils.io import atomic_write_bytes, atomic_write_text, atomic_write_yaml
from autoq.utils.yamlsafe import load_yaml_file

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
CHECKPOINT_VERSION = 2
MAGIC = b"AUTOQ-CHECKPOINT 2 sha256 "
RUN_KEY = "run"  # config.yaml's section of run id and input fingerprints (not a setting)
OWN_FILES = (
    CONFIG,
    EPISODES,
    BEST_POLICY,
    CHECKPOINT,
    REFERENCES,
    SUMMARY,
    FINETUNED,
    FINETUNE_CSV,
    FINETUNE_JSON,
    FINETUNE_CHECKPOINT,
    "finetuned_policy.json",
)

# settings that may change when a run is resumed: they do not change what an episode computes
RESUMABLE_CHANGES = {"episodes", "device", "workers", "out", "finetune", "finetune_options"}


def make_folder(run_dir: Path, what: str = "run folder") -> bool:
    """Create the folder (and its parents); returns whether it was created. One-line errors for a
    path that is a file, read-only or otherwise not writable."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise AutoQError(f"{what} {str(run_dir)!r} is a file, not a folder; choose another --out")
    existed = run_dir.is_dir()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AutoQError(f"cannot create {what} {str(run_dir)!r} ({e.strerror}); choose a writable --out") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise AutoQError(f"{what} {str(run_dir)!r} is not writable; choose a writable --out")
    return not existed


def remove_if_unstarted(run_dir: Path, progress: str = CHECKPOINT) -> None:
    """Remove a folder this process created when the run failed before it saved its ``progress`` file
    (a search's first checkpoint, or a finetune's)."""
    if (run_dir / progress).exists():
        return
    for name in (CONFIG, REFERENCES, EPISODES, BEST_POLICY, ".lock"):
        (run_dir / name).unlink(missing_ok=True)
    remove_temporaries(run_dir)
    try:
        run_dir.rmdir()
    except OSError:  # something else is in it: leave it
        pass


def prepare(run_dir: Path, config: dict, resume: bool) -> bool:
    """Create or check the run folder (which the caller holds locked); returns whether there is a
    checkpoint to resume from.

    A new run refuses a folder that already holds one and gets a fresh run id; a resumed run refuses
    settings that differ from the saved ones, naming the first that does, and keeps its run id and
    input fingerprints. Temporary files left by a killed process are removed.
    """
    ckpt = run_dir / CHECKPOINT
    saved_cfg = run_dir / CONFIG
    remove_temporaries(run_dir)
    if not resume:
        if ckpt.exists():
            raise AutoQError(
                f"run folder {str(run_dir)!r} already holds a search: pass --resume to continue it, or choose another --out"
            )
        atomic_write_yaml(saved_cfg, {**config, RUN_KEY: {"id": secrets.token_hex(8)}})
        return False
    if not saved_cfg.exists():
        raise AutoQError(f"--resume: {str(run_dir)!r} holds no run (no {CONFIG}); start it without --resume")
    saved = read_yaml(saved_cfg)
    for key in sorted(set(saved) | set(config)):
        if key in RESUMABLE_CHANGES or key == RUN_KEY:
            continue
        if saved.get(key) != config.get(key):
            raise AutoQError(
                f"--resume: setting {key!r} is {config.get(key)!r} but the run was started with {saved.get(key)!r}; "
                "resume with the same settings or start a new run folder"
            )
    run = saved.get(RUN_KEY) if isinstance(saved.get(RUN_KEY), dict) else {}
    atomic_write_yaml(saved_cfg, {**config, RUN_KEY: run})
    if not ckpt.exists():
        _refuse_lost_checkpoint(run_dir)
    return ckpt.exists()


def _refuse_lost_checkpoint(run_dir: Path) -> None:
    """Episodes on disk without a checkpoint: restarting would overwrite them silently."""
    done = [name for name in (EPISODES, BEST_POLICY, SUMMARY) if (run_dir / name).exists()]
    if done:
        raise AutoQError(
            f"--resume: {str(run_dir)!r} holds {done[0]} but no {CHECKPOINT}; restore {CHECKPOINT} or start a new run folder"
        )


def read_yaml(path: Path) -> dict:
    """A YAML mapping from a run folder, or a one-line error."""

    try:
        data = load_yaml_file(path, "run file") or {}
    except AutoQError as e:
        raise AutoQError(f"{e}; restore it or start a new run folder") from None
    if not isinstance(data, dict):
        raise AutoQError(f"{str(path)!r} is not a mapping of settings; restore it or start a new run folder")
    return data


def run_record(run_dir: Path) -> dict:
    """The ``run`` section of ``config.yaml``: run id and input fingerprints."""
    run = read_yaml(run_dir / CONFIG).get(RUN_KEY)
    return dict(run) if isinstance(run, dict) else {}


def record_fingerprints(run_dir: Path, fingerprints: dict[str, str]) -> None:
    """Compare the inputs with those recorded in ``config.yaml`` (refusing a change), then record them."""

    config = read_yaml(run_dir / CONFIG)
    run = dict(config.get(RUN_KEY) or {})
    saved = run.get("inputs") or {}
    problem = first_difference(saved, fingerprints) if isinstance(saved, dict) else None
    if problem:
        raise AutoQError(f"--resume: {problem}")
    run["inputs"] = {**fingerprints}
    atomic_write_yaml(run_dir / CONFIG, {**config, RUN_KEY: run})


def remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of atomic writes that a killed process left behind."""
    for path in run_dir.glob(".*.tmp"):
        if any(path.name.startswith(f".{name}.") for name in OWN_FILES):
            path.unlink(missing_ok=True)


def rows_checksum(rows: list[dict]) -> str:
    """sha256 of the rows as :func:`read_rows` gives them back (values as text, empty cells dropped)."""
    canonical = [sorted((k, str(v)) for k, v in row.items() if str(v) != "") for row in rows]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """``state`` saved with torch and prefixed by a magic line and its sha256, so any damage is detected."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, buf)
    payload = buf.getvalue()
    atomic_write_bytes(path, MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`save_checkpoint`, checked and loaded without executing pickled code."""
    fix = "restore it, or start a new run folder"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AutoQError(f"cannot read checkpoint {str(path)!r} ({e.strerror}); {fix}") from None
    header = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < header or data[header - 1 : header] != b"\n":
        raise AutoQError(f"{str(path)!r} is not an autoq checkpoint (empty, foreign or from an older version); {fix}")
    payload = data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != data[len(MAGIC) : header - 1]:
        raise AutoQError(f"checkpoint {str(path)!r} is damaged (checksum mismatch); {fix}")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as e:  # a file with a valid checksum that torch cannot read: written by another version
        raise AutoQError(f"cannot read checkpoint {str(path)!r} ({_first_line(e)}); {fix}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise AutoQError(f"{str(path)!r} is not an autoq checkpoint; {fix}")
    return state


def check_resume(run_dir: Path, state: dict, seed: int) -> list[dict]:
    """The episode rows to continue from, after checking the checkpoint against the folder.

    The checkpoint must come from this run (run id, seed) and ``episodes.csv`` must hold at least
    its episodes, with the same checksum; rows past the checkpoint (written just before a kill)
    are dropped, as their episodes run again.
    """
    fix = "restore the run's files or start a new run folder"
    run_id = run_record(run_dir).get("id")
    if state.get("run_id") != run_id or state.get("seed") != seed:
        raise AutoQError(
            f"--resume: {CHECKPOINT} belongs to another run (seed {state.get('seed')!r}, run id {state.get('run_id')!r}; "
            f"this folder's: seed {seed}, run id {run_id!r}); {fix}"
        )
    episode = int(state["episode"])
    rows = read_rows(run_dir / EPISODES)
    if len(rows) < episode:
        raise AutoQError(f"--resume: {EPISODES} holds {len(rows)} episodes but {CHECKPOINT} {episode}: rows were lost; {fix}")
    rows = rows[:episode]
    if [r.get("episode") for r in rows] != list(range(episode)) or rows_checksum(rows) != state.get("rows_sha256"):
        raise AutoQError(f"--resume: {EPISODES} does not match {CHECKPOINT} (checksum): the table was edited or replaced; {fix}")
    return rows


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


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
    """Rows of a CSV written by :func:`write_rows`, numbers parsed back; a damaged table is a one-line error."""
    if not path.exists():
        return []
    fix = "restore it or start a new run folder"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            raw = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AutoQError(f"cannot read {str(path)!r} ({_first_line(e)}); {fix}") from None
    for i, row in enumerate(raw, start=2):
        if None in row or None in row.values():
            raise AutoQError(f"{str(path)!r} line {i} has {'too many' if None in row else 'too few'} cells; {fix}")
    return [{k: _parse(v) for k, v in row.items()} for row in raw]


def _parse(v: str) -> Any:
    if v in ("True", "False"):
        return v == "True"
    for tp in (int, float):
        try:
            return tp(v)
        except ValueError:
            pass
    return v
