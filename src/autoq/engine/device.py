"""Device selection: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto``."""

from __future__ import annotations

import torch

from autoq.errors import AutoQError


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; asking for CUDA without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AutoQError(f"--device {name}: no CUDA GPU is available here; use --device cpu or auto")
        return torch.device(name)
    if name != "cpu":
        raise AutoQError(f"--device {name!r}: use cpu, cuda, cuda:N or auto")
    return torch.device("cpu")
