"""Content digests of tensors: what checksums of exports and run-folder fingerprints are made of."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import torch


def tensors_digest(named: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]], h=None) -> str:
    """sha256 over names, dtypes, shapes and bytes of tensors, in the given order."""
    h = h or hashlib.sha256()
    for name, t in named.items() if isinstance(named, Mapping) else named:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
