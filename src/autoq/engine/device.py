"""Device selection: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto``."""

from __future__ import annotations

import torch

from autoq.errors import AutoQError


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; asking for CUDA without a GPU is an error, not a silent fallback."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AutoQError(f"--device {name}: no CUDA GPU is available here; use --device cpu or auto")
        exact_float32()
        return torch.device(name)
    if name != "cpu":
        raise AutoQError(f"--device {name!r}: use cpu, cuda, cuda:N or auto")
    return torch.device("cpu")


def exact_float32() -> None:
    """Full float32 convolutions and matrix products on the GPU, with deterministic algorithms.

    TF32 would round the inputs of every layer to 10 mantissa bits: enough to move activations across
    quantization steps, so a policy would score differently on a GPU than on a CPU.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
