"""Device selection: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto``."""

from __future__ import annotations

import copy

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


def fast_memory_format(model: torch.nn.Module, sample: torch.Tensor, device: torch.device) -> torch.memory_format:
    """``channels_last`` where it makes a convolutional network faster, else ``contiguous_format``.

    On CPUs oneDNN's convolutions run about a quarter faster on channels-last images (benchmarks/search.py).
    A model that ``view``s a spatial feature map cannot take that layout, so it is tried on a copy first.
    """
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    if device.type != "cpu" or not has_conv or sample.dim() != 4:
        return torch.contiguous_format
    probe = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
    try:
        with torch.no_grad():
            probe(sample[:2].contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        return torch.contiguous_format
    return torch.channels_last
