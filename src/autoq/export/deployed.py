"""Deployed layers: integer weight codes, per-kernel scales and bias, and the input activation quantizer.

:func:`freeze` turns a calibrated fake-quantized model (``apply_policy`` + ``calibrate``) into the model
every export format describes: each ``QuantConv2d`` / ``QuantLinear`` becomes a :class:`DeployedConv2d` /
:class:`DeployedLinear` holding ``codes`` (int8, the weight shape), ``scales`` (float32, one per kernel),
``bits`` (one per kernel) and a float32 ``bias``; batch norms that follow a conv are folded into the
scales and the bias (:mod:`autoq.export.folding`) and replaced by ``nn.Identity``.

Without folding, a deployed layer computes exactly what the fake-quantized layer computes (same
float operations in the same order), so the outputs are bitwise identical. With folding they are equal
in exact arithmetic; float rounding of the conv outputs may move an activation across a rounding
boundary now and then (one code, one step).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.export.folding import conv_bn_pairs, fold_bn_params
from autoq.quant.apply import quant_modules
from autoq.quant.modules import QuantConv2d, QuantMixin
from autoq.quant.policy import Policy


def act_range(bits: int, signed: bool) -> tuple[int, int]:
    """Integer range of an activation quantizer: ``[0, 2^b-1]`` unsigned, ``±(2^(b-1)-1)`` signed."""
    if signed:
        q = 2 ** (bits - 1) - 1
        return -q, q
    return 0, 2**bits - 1


def weight_view(scales: Tensor, ndim: int) -> Tensor:
    """Per-kernel vector shaped to broadcast over a weight tensor of ``ndim`` dimensions."""
    return scales.view(-1, *([1] * (ndim - 1)))


class DeployedLayer(nn.Module):
    """Common part of :class:`DeployedConv2d` and :class:`DeployedLinear`.

    Buffers: ``codes`` int8 (weight shape), ``scales`` float32 [c_out], ``bits`` uint8 [c_out],
    ``bias`` float32 [c_out] or absent, ``act_scale`` float32 scalar. A kernel whose scale is 0
    (pruned, or zeroed by a folded batch norm) has all its codes 0.
    """

    kind: str = ""

    def __init__(
        self,
        codes: Tensor,
        scales: Tensor,
        bits: Tensor,
        bias: Tensor | None,
        act_scale: float,
        act_bits: int,
        act_signed: bool,
        folded_bn: str | None = None,
    ) -> None:
        super().__init__()
        scales = scales.detach().float().cpu()
        codes = codes.detach().cpu().round().to(torch.int8)
        codes = torch.where(weight_view(scales, codes.dim()) == 0, torch.zeros_like(codes), codes)
        self.register_buffer("codes", codes.contiguous())
        self.register_buffer("scales", scales.contiguous())
        self.register_buffer("bits", bits.detach().cpu().to(torch.uint8).reshape(-1))
        self.register_buffer("bias", None if bias is None else bias.detach().float().cpu().contiguous())
        self.register_buffer("act_scale", torch.tensor(float(act_scale), dtype=torch.float32))
        self.act_bits = int(act_bits)
        self.act_signed = bool(act_signed)
        self.folded_bn = folded_bn
        lo, hi = act_range(self.act_bits, self.act_signed)
        if hi <= lo:
            raise AutoQError(f"a signed {act_bits}-bit activation has no levels: use at least 2 bits for signed inputs")
        if self.bits.numel() != codes.shape[0] or scales.numel() != codes.shape[0]:
            raise AutoQError(f"{codes.shape[0]} kernels need as many bit widths and scales")
        self.export_id: str | None = None  # set while exporting (autoq.export.graph)

    @property
    def c_out(self) -> int:
        return int(self.codes.shape[0])

    @property
    def kernel_numel(self) -> int:
        return int(self.codes[0].numel())

    def act_range(self) -> tuple[int, int]:
        return act_range(self.act_bits, self.act_signed)

    def weight(self, codes: Tensor | None = None, scales: Tensor | None = None) -> Tensor:
        """Dequantized weights ``codes * scale`` (the fake-quantized weights)."""
        codes = self.codes if codes is None else codes
        scales = self.scales if scales is None else scales
        return codes.float() * weight_view(scales, codes.dim())

    def quant_input(self, x: Tensor) -> Tensor:
        lo, hi = self.act_range()
        return torch.fake_quantize_per_tensor_affine(x, float(self.act_scale), 0, lo, hi)

    def compute(self, x: Tensor, codes: Tensor, scales: Tensor, bias: Tensor | None) -> Tensor:
        """The layer on explicit tensors (also what the ONNX export traces)."""
        return self.linear_op(self.quant_input(x), self.weight(codes, scales), bias)

    def linear_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.export_id is not None and torch.onnx.is_in_onnx_export():
            from autoq.export.graph import layer_stub  # graph builds on this module: import at use

            return layer_stub(self, x)
        return self.compute(x, self.codes, self.scales, self.bias)

    def fold_batchnorm(self, bn: nn.Module, bn_name: str) -> None:
        """Fold ``bn`` (which consumes this layer's output) into the scales, the signs of the codes and the bias."""

        codes, scales, bias = fold_bn_params(self.codes, self.scales, self.bias, bn)
        self.codes.copy_(codes)
        self.scales.copy_(scales)
        self.bias = bias
        self.folded_bn = bn_name

    def describe(self) -> dict:
        """Geometry and activation settings as plain JSON values (the packed format's layer record)."""
        return {
            "kind": self.kind,
            "weight_shape": list(self.codes.shape),
            "act_bits": self.act_bits,
            "act_signed": self.act_signed,
            "has_bias": self.bias is not None,
            "folded_bn": self.folded_bn,
        }

    def extra_repr(self) -> str:
        b = self.bits.float()
        return (
            f"{tuple(self.codes.shape)}, w_bits=[{int(b.min())}..{int(b.max())}] mean {float(b.mean()):.2f}, "
            f"a_bits={self.act_bits}{' signed' if self.act_signed else ''}"
            + (f", folded {self.folded_bn}" if self.folded_bn else "")
        )


class DeployedConv2d(DeployedLayer):
    kind = "conv2d"

    def __init__(self, *args, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stride = tuple(int(v) for v in stride)
        self.padding = padding if isinstance(padding, str) else tuple(int(v) for v in padding)
        self.dilation = tuple(int(v) for v in dilation)
        self.groups = int(groups)

    def linear_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        return F.conv2d(x, w, bias, self.stride, self.padding, self.dilation, self.groups)

    def explicit_pads(self) -> list[int]:
        """ONNX ``pads`` (top, left, bottom, right); ``same`` pads the extra pixel at the end, as PyTorch does."""
        if isinstance(self.padding, str):
            if self.padding == "valid":
                return [0, 0, 0, 0]
            total = [d * (k - 1) for d, k in zip(self.dilation, self.codes.shape[2:])]
            return [t // 2 for t in total] + [t - t // 2 for t in total]
        return list(self.padding) * 2

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            stride=list(self.stride),
            padding=self.padding if isinstance(self.padding, str) else list(self.padding),
            dilation=list(self.dilation),
            groups=self.groups,
        )
        return d


class DeployedLinear(DeployedLayer):
    kind = "linear"

    def linear_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        return F.linear(x, w, bias)


def deployed_from_quant(qm: QuantMixin, name: str) -> DeployedLayer:
    """The deployed form of one calibrated fake-quantized layer (no folding)."""
    try:
        clip = qm.activation_clip()
    except RuntimeError:
        raise AutoQError(f"layer {name!r} is not calibrated: run autoq.quant.calibrate(model, batches) first") from None
    bits, signed = int(qm.a_bits), bool(qm.act_signed)
    lo, hi = act_range(bits, signed)
    if hi <= lo:
        raise AutoQError(f"layer {name!r}: a signed {bits}-bit activation has no levels; use at least 2 bits")
    # the scale the fake quantizer uses (autoq.quant.quantizer.fake_quant_act); ATen rounds it to float32
    act_scale = max(clip, 1e-12) / hi
    _, codes, scales = qm.quantize_weight()
    common = dict(codes=codes, scales=scales, bits=qm.w_bits, bias=qm.bias, act_scale=act_scale, act_bits=bits, act_signed=signed)
    if isinstance(qm, QuantConv2d):
        if qm.padding_mode != "zeros":
            raise AutoQError(f"layer {name!r} pads with {qm.padding_mode!r}; only zero padding is exported")
        return DeployedConv2d(**common, stride=qm.stride, padding=qm.padding, dilation=qm.dilation, groups=qm.groups)
    return DeployedLinear(**common)


def deployed_layers(model: nn.Module) -> dict[str, DeployedLayer]:
    """The deployed layers of ``model`` by name, in registration order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DeployedLayer)}


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def freeze(model: nn.Module, *, fold_bn: bool = True) -> nn.Module:
    """A deployed copy of a calibrated quantized model (the input is left untouched).

    With ``fold_bn``, every BatchNorm2d that is the only consumer of a quantized conv is folded
    into that conv's scales and bias. A model that is already deployed is returned as it is.
    """
    qmods = quant_modules(model)
    if not qmods:
        if deployed_layers(model):
            return model
        raise AutoQError("the model has no quantized layers: apply a policy (autoq.quant.apply_policy) first")

    out = copy.deepcopy(model).cpu().eval()
    pairs = conv_bn_pairs(out, leaves=(DeployedLayer,)) if fold_bn else {}
    with torch.no_grad():
        for name, qm in quant_modules(out).items():
            layer = deployed_from_quant(qm, name)
            if name in pairs:
                layer.fold_batchnorm(out.get_submodule(pairs[name]), pairs[name])
                set_submodule(out, pairs[name], nn.Identity())
            set_submodule(out, name, layer)
    return out


def deployed_policy(model: nn.Module, meta: dict | None = None) -> Policy:
    """The bit widths a deployed model carries, as a policy."""
    layers = deployed_layers(model)
    return Policy(
        {n: l.bits.long().numpy() for n, l in layers.items()}, {n: l.act_bits for n, l in layers.items()}, dict(meta or {})
    )
