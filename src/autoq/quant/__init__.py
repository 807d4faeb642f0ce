"""Quantization core: layer discovery, kernel-wise fake quantization, bit-width policies."""

from autoq.quant.apply import apply_policy, calibrate, policy_of, quant_modules, quantized, set_policy
from autoq.quant.discovery import Discovery, LayerInfo, discover_layers
from autoq.quant.modules import QuantConv2d, QuantLinear, QuantMixin
from autoq.quant.policy import Policy

__all__ = [
    "Discovery", "LayerInfo", "Policy", "QuantConv2d", "QuantLinear", "QuantMixin",
    "apply_policy", "calibrate", "discover_layers", "policy_of", "quant_modules", "quantized", "set_policy",
]
