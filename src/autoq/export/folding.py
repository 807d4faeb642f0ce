"""Fold a BatchNorm that follows a quantized conv into that conv's per-kernel scales and bias.

In eval mode a BatchNorm is the per-channel affine map ``y -> a * y + c`` with
``a = gamma / sqrt(var + eps)`` and ``c = beta - a * mean``. Applied to ``conv(x, codes * s) + bias`` it
gives ``conv(x, codes * (a * s)) + a * (bias - mean) + beta``: the integer codes stay as they are and
only the scale and the bias change. A negative ``a`` flips the sign of the kernel's codes (the grid is
symmetric, so they stay in range) and keeps the scale positive.
"""

from __future__ import annotations

import logging

import torch
import torch.fx
from torch import Tensor, nn

from autoq.quant.modules import QuantConv2d, QuantMixin

log = logging.getLogger(__name__)


class _LayerTracer(torch.fx.Tracer):
    """Keeps quantized and deployed layers as single calls (their inner ops are not graph structure)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        from autoq.export.deployed import DeployedLayer

        return isinstance(m, (QuantMixin, DeployedLayer)) or super().is_leaf_module(m, qualname)


def conv_bn_pairs(model: nn.Module) -> dict[str, str]:
    """``{conv name: batch-norm name}`` for every quantized conv whose only consumer is a BatchNorm2d.

    The structure comes from a ``torch.fx`` trace; a model that cannot be traced folds nothing
    (with a warning) and still exports correctly, with its batch norms as separate float layers.
    """
    try:
        graph = _LayerTracer().trace(model)
    except Exception as e:  # fx raises many types for untraceable Python
        log.warning("batch norms not folded: the model cannot be traced with torch.fx (%s)", e)
        return {}
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = {}
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], QuantConv2d):
            continue
        users = list(node.users)
        if len(users) != 1 or users[0].op != "call_module" or calls[node.target] != 1:
            continue
        bn_name = users[0].target
        bn = modules[bn_name]
        if (
            isinstance(bn, nn.BatchNorm2d)
            and calls[bn_name] == 1
            and bn.running_mean is not None
            and bn.num_features == modules[node.target].out_channels
            and users[0].args[0] is node
        ):
            pairs[node.target] = bn_name
    return pairs


def bn_affine(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """``(a, c)`` of the eval-mode batch norm ``y -> a * y + c``, in float64."""
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(var)
    a = gamma / torch.sqrt(var + bn.eps)
    return a, beta - a * mean


def fold_bn_params(
    codes: Tensor, scales: Tensor, bias: Tensor | None, bn: nn.Module
) -> tuple[Tensor, Tensor, Tensor]:
    """Codes (sign-flipped where ``a < 0``), scales ``|a| * s`` and bias ``a * bias + c`` after folding ``bn``."""
    a, c = bn_affine(bn)
    b = bias.double() if bias is not None else torch.zeros_like(a)
    sign = torch.where(a < 0, -1, 1).to(codes.dtype)
    new_scales = (a.abs() * scales.double()).float()
    shape = (-1, *([1] * (codes.dim() - 1)))
    new_codes = torch.where(new_scales.view(shape) == 0, torch.zeros_like(codes), codes * sign.view(shape))
    return new_codes, new_scales, (a * b + c).float()
