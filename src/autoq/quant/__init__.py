"""Quantization core: layer discovery, kernel-wise fake quantization, bit-width policies.

Names load their module on first use, so that ``autoq.quant.policy`` (JSON and NumPy) imports no torch.
"""

from __future__ import annotations

from autoq.utils.lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _LAZY, submodules=True)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
