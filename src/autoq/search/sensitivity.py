"""Second-order sensitivity of every kernel's weights and every layer's input activations.

The integer-program search (:mod:`autoq.search.program`) needs, for every layer and bit width, how
much the loss grows when that layer is quantized. A second-order Taylor expansion around the float
model (HAWQ-V2/V3) gives ``ΔL ≈ ½ Δᵀ H Δ`` for a perturbation ``Δ``; keeping the diagonal of the
curvature averaged over each block turns that into

    kernel k of layer i at b bits:    ½ · (tr H_k / n_k) · ‖Q_b(w_k) − w_k‖²
    input of layer i at a bits:        ½ · tr H_x · mse_a(x)

with ``H_k`` the block of kernel ``k``'s weights, ``H_x`` that of one image's input to the layer
(averaged over the images) and ``mse_a`` the mean squared error per element of the layer's
activation quantizer at ``a`` bits. The curvature is the Fisher matrix, which for a softmax
cross-entropy equals the Gauss-Newton part of the Hessian: positive semi-definite, and its traces
come from plain gradients (labels drawn from the model's own prediction), so one backward pass per
micro-batch gives every block's trace at once.

Why not Hutchinson's estimator of the full Hessian (HAWQ-V2): on ResNet-20 with 256 calibration
images four Hessian-vector samples took 268 s on two cores (double backward), and the trace of 9 of
the 20 layer inputs came out negative (the indefinite part and the estimator's noise); the Fisher
takes a few seconds and is never negative. Why not a measured loss or KL increase per layer and bit
width: hundreds of network passes for ResNet-20, and not additive over kernels, which the
kernel-wise program needs. The perturbations use the same quantizers (per-kernel MSE clips,
calibrated activation clips) as the search, so every candidate configuration is scored without
running the network on it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.quant import quantizer as Q
from autoq.quant.discovery import LayerInfo

BITS = Q.MAX_BITS + 1  # tables are indexed by bits 0..8
MICRO_BATCH = 16  # images per gradient: the estimate is unbiased for any size, less noisy for small ones


@dataclass
class Sensitivity:
    """Per-layer curvature and quantization errors; ``kernel_cost`` / ``act_cost`` give ΔL estimates."""

    kernel_curv: list[np.ndarray]  # per layer [c_out]: mean Hessian diagonal of each kernel (>= 0)
    act_trace: np.ndarray  # per layer: trace of the Hessian w.r.t. its input batch tensor (>= 0)
    weight_err: list[np.ndarray]  # per layer [c_out, 9]: squared error of each kernel at 0..8 bits
    act_err: np.ndarray  # [layers, 9]: mean squared error per input element at 0..8 bits (0: unused)

    def kernel_cost(self, i: int) -> np.ndarray:
        """``[c_out, 9]``: estimated loss increase of each kernel of layer ``i`` at each bit width."""
        return 0.5 * self.kernel_curv[i][:, None] * self.weight_err[i]

    def act_cost(self, i: int) -> np.ndarray:
        """``[9]``: estimated loss increase of layer ``i``'s input at each bit width."""
        return 0.5 * self.act_trace[i] * self.act_err[i]

    def policy_cost(self, w_bits: Sequence[np.ndarray], a_bits: Sequence[int]) -> float:
        """Estimated loss increase of a whole policy (the sum the integer program minimises)."""
        total = 0.0
        for i, (w, a) in enumerate(zip(w_bits, a_bits)):
            k = self.kernel_cost(i)
            total += float(k[np.arange(len(w)), np.asarray(w)].sum() + self.act_cost(i)[int(a)])
        return total


def estimate_sensitivity(
    model: nn.Module,
    layers: Sequence[LayerInfo],
    images: Iterable[Tensor],
    tables: QuantizerTables,
    *,
    draws: int = 1,
    seed: int = 0,
) -> Sensitivity:
    """Fisher traces and activation errors on ``images`` (calibration batches), weight errors from ``tables``."""
    if draws < 1:
        raise AutoQError("--fisher-draws must be at least 1")
    images = list(images)
    if not images:
        raise AutoQError("sensitivity needs calibration images: the calibration split is empty")
    net = copy.deepcopy(model).float().eval().to(images[0].device)
    modules = dict(net.named_modules())
    mods = [modules[l.name] for l in layers]
    curv, act_tr, act_err = _fisher_traces(net, mods, images, tables, draws, seed)
    weight_err = [_weight_errors(m.weight.detach(), clips) for m, clips in zip(mods, tables.weight_clips)]
    per_kernel = [c / max(1, m.weight[0].numel()) for c, m in zip(curv, mods)]
    return Sensitivity([np.maximum(c, 0.0) for c in per_kernel], np.maximum(act_tr, 0.0), weight_err, act_err)


@dataclass
class QuantizerTables:
    """The search's own quantizers: every kernel's clip and every input's clip at each bit width."""

    weight_clips: list[Tensor]  # per layer [c_out, 9]
    act_clips: np.ndarray  # [layers, 9] (column 0 unused)
    act_signed: list[bool]

    @classmethod
    def of(cls, qmodel: nn.Module, layers: Sequence[LayerInfo]) -> QuantizerTables:
        """Read the tables of a quantized model whose activations are calibrated."""
        modules = dict(qmodel.named_modules())
        weight, act, signed = [], np.ones((len(layers), BITS)), []
        for i, layer in enumerate(layers):
            m = modules[layer.name]
            m._ensure_clip_ratios()
            absmax = m.weight.detach().reshape(m.weight.shape[0], -1).abs().amax(dim=1)
            weight.append((m.clip_ratio * absmax[:, None]).detach().cpu().float())
            act[i, 1:] = [m.activation_clip(b) for b in range(1, BITS)]
            signed.append(bool(m.act_signed))
        return cls(weight, act, signed)


def _fisher_traces(net: nn.Module, mods: list[nn.Module], batches, tables: QuantizerTables, draws: int, seed: int):
    """Per layer: the Fisher traces of each kernel's weights and of the layer's input (per image),
    and the mean squared error per element of the layer's input quantizer at every bit width.

    Labels are drawn from the network's own softmax, so the expected gradient of every image is
    zero and, over a micro-batch of ``m`` images, ``m · E‖g‖²`` is the mean per-image trace.
    """
    gen = torch.Generator().manual_seed(seed)
    kernel_tr = [np.zeros(m.weight.shape[0]) for m in mods]
    act_tr = np.zeros(len(mods))
    weights = [m.weight for m in mods]
    for p in net.parameters():
        p.requires_grad_(False)
    for w in weights:
        w.requires_grad_(True)
    sq, count = np.zeros((len(mods), BITS)), np.zeros(len(mods))
    steps = 0
    for x in batches:
        for xm in x.split(MICRO_BATCH):
            for draw in range(draws):
                deltas: list[list[Tensor]] = [[] for _ in mods]
                errors = (sq, count, tables) if draw == 0 and steps == 0 else None  # one micro-batch is plenty
                hooks = [m.register_forward_pre_hook(_perturbable(deltas[j], j, errors)) for j, m in enumerate(mods)]
                try:
                    with torch.enable_grad():
                        logits = net(xm)
                        probs = F.softmax(
                            logits.detach().double(), 1
                        ).cpu()  # the generator is a CPU one: same labels on every device
                        y = torch.multinomial(probs, 1, generator=gen).squeeze(1).to(logits.device)
                        grads = torch.autograd.grad(
                            F.cross_entropy(logits, y), weights + [d for ds in deltas for d in ds], allow_unused=True
                        )
                finally:
                    for h in hooks:
                        h.remove()
                _accumulate(kernel_tr, act_tr, deltas, grads, len(weights), xm.shape[0])
                steps += 1
    return [t / steps for t in kernel_tr], act_tr / steps, sq / np.maximum(count, 1)[:, None]


def _perturbable(store: list[Tensor], j: int, errors):
    """A pre-hook adding a zero tensor to layer ``j``'s input, so that the gradient w.r.t. it exists;
    with ``errors``, it also adds the input's quantization error at every bit width."""

    def hook(module: nn.Module, inputs: tuple) -> tuple:
        if errors is not None:
            sq, count, tables = errors
            x = inputs[0].detach().float()
            for b in range(1, BITS):
                sq[j, b] += float((Q.fake_quant_act(x, b, float(tables.act_clips[j, b]), tables.act_signed[j]) - x).pow(2).sum())
            count[j] += x.numel()
        d = torch.zeros_like(inputs[0], requires_grad=True)
        store.append(d)
        return (inputs[0] + d, *inputs[1:])

    return hook


def _accumulate(kernel_tr, act_tr, deltas, grads, n_weights: int, m: int) -> None:
    """Add one micro-batch's ``m · g²`` to the per-kernel and per-input sums."""
    for j in range(n_weights):
        if grads[j] is not None:
            kernel_tr[j] += m * grads[j].detach().pow(2).reshape(grads[j].shape[0], -1).sum(1).double().cpu().numpy()
    k = n_weights
    for j, ds in enumerate(deltas):
        for _ in ds:
            if grads[k] is not None:
                act_tr[j] += m * float(grads[k].detach().pow(2).sum())
            k += 1


def _weight_errors(w: Tensor, clips: Tensor) -> np.ndarray:
    """``[c_out, 9]``: squared error of each kernel at every bit width, with the search's clips."""
    w = w.float().cpu()
    out = np.zeros((w.shape[0], BITS))
    for b in range(BITS):
        bits = torch.full((w.shape[0],), b, dtype=torch.long)
        w_q = Q.quantize_kernels(w, bits, clips[:, b])[0]
        out[:, b] = Q.kernel_error(w, w_q).double().numpy()
    return out
