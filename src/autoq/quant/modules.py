"""Fake-quantized Conv2d and Linear: one weight bit width per kernel, one activation bit width per layer.

They subclass the float layers, so parameters, state-dict keys and everything that inspects a
``nn.Conv2d`` keep working. Quantized weights are cached and recomputed only when the bits, the clip
method or the weights change; in training (gradients on) they are recomputed every step with a
straight-through estimator, since the optimiser changes the weights every step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoq.quant import quantizer as Q


class QuantMixin:
    """State and behaviour shared by :class:`QuantConv2d` and :class:`QuantLinear`."""

    weight: nn.Parameter

    def _init_quant(self, weight_clip: str = "mse", act_clip: str = "mse") -> None:
        c_out = self.weight.shape[0]
        if weight_clip not in Q.WEIGHT_CLIP_METHODS:
            raise ValueError(f"unknown weight clip method {weight_clip!r}; use one of {sorted(Q.WEIGHT_CLIP_METHODS)}")
        if act_clip not in ("mse", "percentile", "max"):
            raise ValueError(f"unknown activation clip method {act_clip!r}; use mse, percentile or max")
        self.weight_clip = weight_clip
        self.act_clip = act_clip
        dev = self.weight.device
        self.register_buffer("w_bits", torch.full((c_out,), 8, dtype=torch.long, device=dev))
        self.register_buffer("a_bits", torch.tensor(8, dtype=torch.long, device=dev))
        # clip of kernel o at b bits = clip_ratio[o, b] * max|w[o]|, fixed when first needed so that
        # finetuning and evaluation quantize the same way
        self.register_buffer("clip_ratio", torch.ones(c_out, Q.MAX_BITS + 1, device=dev))
        self.register_buffer("clip_ready", torch.tensor(False, device=dev))
        self.register_buffer("act_hist", torch.zeros(Q.HIST_BINS, dtype=torch.float64, device=dev))
        self.register_buffer("act_upper", torch.tensor(0.0, dtype=torch.float64, device=dev))
        self.register_buffer("act_signed", torch.tensor(False, device=dev))
        self.register_buffer("act_calibrated", torch.tensor(False, device=dev))
        self.observing = False
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._wq_key: Any = None
        self._wq: Tensor | None = None
        self._act_clips: dict[int, float] = {}

    # bits ---------------------------------------------------------------------------------------
    def set_bits(self, weight_bits: Any, act_bits: int) -> None:
        """Set the kernel bit vector and the input activation bits."""
        w = torch.as_tensor(weight_bits, dtype=torch.long).reshape(-1)
        if w.numel() != self.w_bits.numel():
            raise ValueError(f"expected {self.w_bits.numel()} kernel bit widths, got {w.numel()}")
        if not torch.equal(w.to(self.w_bits.device), self.w_bits) or int(act_bits) != int(self.a_bits):
            self.w_bits.copy_(w)
            self.a_bits.fill_(int(act_bits))
            self._wq_key = None

    # weights ------------------------------------------------------------------------------------
    def _ensure_clip_ratios(self) -> None:
        if bool(self.clip_ready):
            return
        w = self.weight.detach()
        table = Q.WEIGHT_CLIP_METHODS[self.weight_clip](w)
        absmax = w.reshape(w.shape[0], -1).abs().amax(dim=1, keepdim=True)
        self.clip_ratio.copy_(torch.where(absmax > 0, table / absmax.clamp(min=1e-30), torch.ones_like(table)))
        self.clip_ready.fill_(True)

    def kernel_clips(self) -> Tensor:
        """Current clip of every kernel at its bit width."""
        self._ensure_clip_ratios()
        w = self.weight.detach()
        absmax = w.reshape(w.shape[0], -1).abs().amax(dim=1)
        bits = self.w_bits.clamp(0, Q.MAX_BITS)
        return self.clip_ratio.gather(1, bits[:, None]).squeeze(1) * absmax

    def quantize_weight(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(w_q, codes, scales)`` of the current weights at the current bits (no gradient)."""
        with torch.no_grad():
            return Q.quantize_kernels(self.weight.detach(), self.w_bits, self.kernel_clips())

    def quant_weight(self) -> Tensor:
        w = self.weight
        if torch.is_grad_enabled() and w.requires_grad:
            w_q = self.quantize_weight()[0]
            return w + (w_q - w).detach()  # straight-through estimator
        key = (w._version, w.data_ptr(), w.device, w.dtype)
        if self._wq is None or self._wq_key != key:
            self._wq = self.quantize_weight()[0]
            self._wq_key = key
        return self._wq

    # activations --------------------------------------------------------------------------------
    def activation_clip(self, bits: int | None = None) -> float:
        """Calibrated clip of the input activations at ``bits`` (default: the current bits)."""
        bits = int(self.a_bits) if bits is None else int(bits)
        if bits not in self._act_clips:
            if not bool(self.act_calibrated):
                raise RuntimeError("activations are not calibrated: run autoq.quant.calibrate(model, batches) first")
            self._act_clips[bits] = Q.act_clip_from_histogram(
                self.act_hist, float(self.act_upper), bits, bool(self.act_signed), self.act_clip
            )
        return self._act_clips[bits]

    def quant_input(self, x: Tensor) -> Tensor:
        if self.observing:
            hist, upper, negative = Q.update_histogram(self.act_hist, float(self.act_upper), x)
            self.act_hist.copy_(hist)
            self.act_upper.fill_(upper)
            if negative:
                self.act_signed.fill_(True)
            self.act_calibrated.fill_(True)
            self._act_clips = {}
            return x
        return Q.fake_quant_act(x, int(self.a_bits), self.activation_clip(), bool(self.act_signed))

    def input_codes(self, x: Tensor, inplace: bool = False) -> tuple[Tensor, float]:
        """The quantized input as integer codes and the step they stand for (no gradients): a linear
        layer given the codes and its weights times the step computes what it computes on
        :meth:`quant_input`. While calibrating, ``x`` itself (recorded) and 1. ``inplace``: ``x`` may
        be overwritten (no one else reads it)."""
        if self.observing:
            return self.quant_input(x), 1.0
        return Q.act_codes(x, int(self.a_bits), self.activation_clip(), bool(self.act_signed), inplace)

    def reset_calibration(self) -> None:
        self.act_hist.zero_()
        self.act_upper.zero_()
        self.act_signed.fill_(False)
        self.act_calibrated.fill_(False)
        self._act_clips = {}

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)  # type: ignore[misc]
        self._reset_caches()

    def quant_repr(self) -> str:
        b = self.w_bits.float()
        return f"w_bits=[{int(b.min())}..{int(b.max())}] mean {float(b.mean()):.2f}, a_bits={int(self.a_bits)}"


class QuantConv2d(QuantMixin, nn.Conv2d):
    """``nn.Conv2d`` with kernel-wise weight and layer-wise input quantization."""

    @classmethod
    def from_float(cls, conv: nn.Conv2d, weight_clip: str = "mse", act_clip: str = "mse") -> QuantConv2d:
        q = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            device="meta",
        )
        q.weight, q.bias = conv.weight, conv.bias
        q.train(conv.training)
        q._init_quant(weight_clip, act_clip)
        return q

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(self.quant_input(x), self.quant_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", " + self.quant_repr()


class QuantLinear(QuantMixin, nn.Linear):
    """``nn.Linear`` with row-wise (kernel-wise) weight and layer-wise input quantization."""

    @classmethod
    def from_float(cls, linear: nn.Linear, weight_clip: str = "mse", act_clip: str = "mse") -> QuantLinear:
        q = cls(linear.in_features, linear.out_features, linear.bias is not None, device="meta")
        q.weight, q.bias = linear.weight, linear.bias
        q.train(linear.training)
        q._init_quant(weight_clip, act_clip)
        return q

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.quant_input(x), self.quant_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", " + self.quant_repr()


QUANT_MODULES = {nn.Conv2d: QuantConv2d, nn.Linear: QuantLinear}
