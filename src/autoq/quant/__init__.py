"""Quantization core: layer discovery, kernel-wise fake quantization, bit-width policies.

Names load their module on first use, so that ``autoq.quant.policy`` (JSON and NumPy) imports no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "apply_policy": "autoq.quant.apply",
    "calibrate": "autoq.quant.apply",
    "policy_of": "autoq.quant.apply",
    "quant_modules": "autoq.quant.apply",
    "quantized": "autoq.quant.apply",
    "set_policy": "autoq.quant.apply",
    "Discovery": "autoq.quant.discovery",
    "LayerInfo": "autoq.quant.discovery",
    "discover_layers": "autoq.quant.discovery",
    "QuantConv2d": "autoq.quant.modules",
    "QuantLinear": "autoq.quant.modules",
    "QuantMixin": "autoq.quant.modules",
    "Policy": "autoq.quant.policy",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    try:  # a submodule that nothing has imported yet, e.g. autoq.quant.fusion
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
