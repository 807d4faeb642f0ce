"""Fold a BatchNorm that follows a quantized conv into that conv's per-kernel scales and bias.

In eval mode a BatchNorm is the per-channel affine map ``y -> a * y + c`` with
``a = gamma / sqrt(var + eps)`` and ``c = beta - a * mean``. Applied to ``conv(x, codes * s) + bias`` it
gives ``conv(x, codes * (a * s)) + a * (bias - mean) + beta``: the integer codes stay as they are and
only the scale and the bias change. A negative ``a`` flips the sign of the kernel's codes (the grid is
symmetric, so they stay in range) and keeps the scale positive.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from autoq.quant.fusion import bn_affine, conv_chains, trace


def conv_bn_pairs(model: nn.Module, leaves: tuple[type[nn.Module], ...] = ()) -> dict[str, str]:
    """``{conv name: batch-norm name}`` for every quantized conv whose only consumer is a BatchNorm2d.

    The structure comes from a ``torch.fx`` trace that keeps ``leaves`` (e.g. already deployed layers)
    opaque; a model that cannot be traced folds nothing (with a warning) and still exports correctly,
    with its batch norms as separate float layers.
    """
    graph = trace(model, leaves=leaves, purpose="batch norms not folded")
    if graph is None:
        return {}
    return {chain.conv.target: chain.bn.target for chain in conv_chains(graph, model)}


def fold_bn_params(codes: Tensor, scales: Tensor, bias: Tensor | None, bn: nn.Module) -> tuple[Tensor, Tensor, Tensor]:
    """Codes (sign-flipped where ``a < 0``), scales ``|a| * s`` and bias ``a * bias + c`` after folding ``bn``."""
    a, c = bn_affine(bn)
    b = bias.double() if bias is not None else torch.zeros_like(a)
    sign = torch.where(a < 0, -1, 1).to(codes.dtype)
    new_scales = (a.abs() * scales.double()).float()
    shape = (-1, *([1] * (codes.dim() - 1)))
    new_codes = torch.where(new_scales.view(shape) == 0, torch.zeros_like(codes), codes * sign.view(shape))
    return new_codes, new_scales, (a * b + c).float()
