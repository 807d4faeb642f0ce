"""Fingerprints of what a run reads: model weights, data and accelerator board.

A run folder records them in ``config.yaml``; ``--resume`` recomputes them and refuses a run whose
weights file, data or board changed at the same path (its episodes would mix two experiments).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from autoq.utils.digest import tensors_digest

LABELS = {"weights": "the model's weights", "data": "the data set", "board": "the accelerator board"}


def dataset_digest(dataset: Any) -> str | None:
    """Digest of an in-memory data set's tensors, or of a folder data set's file list (path, size,
    modification time); None when the data set exposes neither."""
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None:
        return tensors_digest([(str(i), t) for i, t in enumerate(tensors)])
    samples = getattr(dataset, "samples", None)
    if samples is None:
        return None
    h = hashlib.sha256()
    for sample in samples:
        path = os.fspath(sample[0])
        st = os.stat(path)
        h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}|{sample[1:]}\n".encode())
    return h.hexdigest()


def board_digest(accelerator: Any) -> str:
    """Digest of the accelerator's resolved parameters (whether they came from a name or a file)."""
    params = dataclasses.asdict(accelerator) if dataclasses.is_dataclass(accelerator) else vars(accelerator)
    text = json.dumps({"type": type(accelerator).__name__, **params}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def run_fingerprints(work: Any, accelerator: Any) -> dict[str, str]:
    """``{"weights": ..., "data": ..., "board": ...}`` for a workload and its accelerator."""
    out = {"weights": tensors_digest(work.model.state_dict()), "board": board_digest(accelerator)}
    parts = [dataset_digest(work.data.train), dataset_digest(work.data.test)]
    if all(p is not None for p in parts):
        out["data"] = hashlib.sha256("|".join(parts).encode()).hexdigest()  # type: ignore[arg-type]
    return out


def first_difference(saved: dict[str, str], now: dict[str, str]) -> str | None:
    """A one-line description of the first input whose fingerprint changed, or None."""
    for key in ("weights", "data", "board"):
        if key in saved and key in now and saved[key] != now[key]:
            return (
                f"{LABELS[key]} changed since the run started (sha256 {saved[key][:12]} then, {now[key][:12]} now); "
                "resume with the same files or start a new run folder"
            )
    return None
