"""Kernel-wise linear quantization math (pure functions, no modules).

Weights: symmetric, one scale per kernel (output channel). A kernel at ``b >= 2`` bits has the codes
``-(2^(b-1)-1) .. 2^(b-1)-1`` (``2^b - 1`` levels) and ``scale = clip / (2^(b-1)-1)``; at 1 bit it is
binary, ``sign(w) * mean|w|``; at 0 bits it is pruned (all zero).

The MSE-optimal clip of a kernel at ``b`` bits is the best of a grid of fractions of ``max|w|`` and of
one *nested* candidate: the clip whose grid holds every level of the best ``b - 1``-bit grid. The
nested candidate makes the quantization error of every kernel non-increasing in its bits; the plain
``max|w|`` clip does not have that property (its grids are not nested).

Activations: one clip per layer from a calibration histogram of ``|x|``; unsigned after a ReLU
(``2^b`` levels from 0), signed where the input can be negative. A map of more than
:data:`HIST_SAMPLE` elements is counted on an even sample of its rows (its range and sign on all of it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

MAX_BITS = 8
CLIP_GRID = torch.linspace(0.25, 1.0, 16)
HIST_BINS = 2048
#: most elements of one map a histogram update counts; beyond it an even sample of the map's rows, each
#: weighted by the rows it stands for. Counting is most of calibration's cost on wide maps (MobileNetV2's
#: expansions hold 37M elements per 250 images); two million elements fix a 2048-bin histogram's clip
#: to well within a bin (docs/quantization.md, "Calibration")
HIST_SAMPLE = 1 << 21


def qmax_signed(bits: Tensor | int) -> Tensor | int:
    """Largest code of a symmetric signed grid at ``bits`` (>= 2)."""
    return 2 ** (bits - 1) - 1


def quantize_kernels(w: Tensor, bits: Tensor, clip: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Quantize each kernel ``w[o]`` at ``bits[o]`` bits with clip ``clip[o]`` (used for ``bits >= 2``).

    Returns ``(w_q, codes, scales)`` with ``w_q = codes * scales[o]``: codes are integers stored as
    floats, in ``[-(2^(b-1)-1), 2^(b-1)-1]``, ``{-1, +1}`` at 1 bit and 0 at 0 bits.
    """
    c_out = w.shape[0]
    w2 = w.reshape(c_out, -1)
    bits = bits.to(device=w.device).long()
    qmax = qmax_signed(bits.clamp(min=2)).to(w.dtype)
    mean_abs = w2.abs().mean(dim=1)
    scales = torch.where(bits >= 2, clip.to(w.dtype) / qmax, mean_abs)
    scales = torch.where(bits == 0, torch.zeros_like(scales), scales)
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    multi = torch.clamp(torch.round(w2 / safe[:, None]), -qmax[:, None], qmax[:, None])
    binary = torch.where(w2 >= 0, 1.0, -1.0).to(w.dtype)
    codes = torch.where((bits >= 2)[:, None], multi, binary)
    codes = torch.where((bits == 0)[:, None] | (scales == 0)[:, None], torch.zeros_like(codes), codes)
    w_q = codes * scales[:, None]
    return w_q.reshape_as(w), codes.reshape_as(w), scales


def kernel_error(w: Tensor, w_q: Tensor) -> Tensor:
    """Squared quantization error of each kernel."""
    return (w - w_q).reshape(w.shape[0], -1).pow(2).sum(dim=1)


def _grid_error(w2: Tensor, clips: Tensor, bits: int, chunk_elems: int = 1 << 23) -> Tensor:
    """Error of every kernel (rows of ``w2``) at every candidate clip (columns of ``clips``)."""
    q = qmax_signed(bits)
    rows = max(1, chunk_elems // max(1, clips.shape[1] * w2.shape[1]))
    out = []
    for start in range(0, w2.shape[0], rows):  # bounded memory for large layers
        w_c, s = w2[start : start + rows], clips[start : start + rows] / q
        safe = torch.where(s > 0, s, torch.ones_like(s))
        err = (w_c[:, None, :] / safe[:, :, None]).round_().clamp_(-q, q)  # codes, then error, in place
        err.mul_(s[:, :, None]).sub_(w_c[:, None, :]).square_()
        out.append(err.sum(dim=2))
    return torch.cat(out)


def mse_clips(w: Tensor, max_bits: int = MAX_BITS, sample: int = 256) -> Tensor:
    """MSE-optimal clip of every kernel at every bit width: ``[c_out, max_bits + 1]`` (columns 0, 1 unused).

    Bit widths are solved in increasing order so that each one can try the nested candidate of the
    one below (see the module docstring). Kernels longer than ``sample`` pick their grid candidate
    on an even-strided sample of their weights; that candidate and the nested one are then compared
    on the whole kernel, which keeps the error non-increasing in the bits.
    """
    with torch.no_grad():
        w2 = w.detach().reshape(w.shape[0], -1).float()
        stride = max(1, w2.shape[1] // sample)
        probe = w2[:, ::stride]
        absmax = w2.abs().amax(dim=1)
        table = absmax[:, None].repeat(1, max_bits + 1)
        prev = w2.abs().mean(dim=1)  # 1 bit: levels +-mean|w|, held by the 2-bit grid with clip = mean|w|
        grid = CLIP_GRID.to(w2.device)
        for b in range(2, max_bits + 1):
            nested = prev if b == 2 else prev * (2 ** (b - 1) - 1) / (2 ** (b - 1) - 2)
            cands = absmax[:, None] * grid[None, :]
            if stride > 1:
                cands = cands.gather(1, _grid_error(probe, cands, b).argmin(dim=1, keepdim=True))
            cands = torch.cat([cands, nested[:, None]], dim=1)
            best = cands.gather(1, _grid_error(w2, cands, b).argmin(dim=1, keepdim=True)).squeeze(1)
            table[:, b] = best
            prev = best
        return table.to(w.dtype)


def max_clips(w: Tensor, max_bits: int = MAX_BITS) -> Tensor:
    """Clip = max|w| of each kernel at every bit width: ``[c_out, max_bits + 1]``."""
    absmax = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1)
    return absmax[:, None].repeat(1, max_bits + 1)


WEIGHT_CLIP_METHODS = {"mse": mse_clips, "max": max_clips}


def fake_quant_act(x: Tensor, bits: int, clip: float, signed: bool) -> Tensor:
    """Quantize activations to ``bits`` with clip ``clip``; gradients pass inside the clip range (STE).

    A signed input at 1 bit is binary, ``±clip``.
    """
    if signed and bits == 1:
        xc = torch.clamp(x, -clip, clip)
        return xc + (torch.where(x >= 0, clip, -clip).to(x.dtype) - xc).detach()
    if torch.is_grad_enabled() and x.requires_grad:
        lo, q, scale = _act_grid(bits, clip, signed)
        return torch.fake_quantize_per_tensor_affine(x, scale, 0, lo, q)
    codes, step = act_codes(x, bits, clip, signed)
    return codes.mul_(step)


def act_codes(x: Tensor, bits: int, clip: float, signed: bool, inplace: bool = False) -> tuple[Tensor, float]:
    """The integer codes of ``x`` (as floats) and the step each stands for: ``fake_quant_act = codes * step``.

    Without gradients only. ``inplace`` overwrites ``x`` with its codes (for an input no one else reads).
    A convolution is linear, so it may take the codes and carry the step in its weights, a pass over
    the activations saved. ATen's fused fake quantizer also writes a gradient mask, which makes it ~10x
    slower than these in-place passes with the same float32 arithmetic (x * (1/scale), round half to
    even, clamp), hence the same codes.
    """
    if signed and bits == 1:  # binary: ±1 times the clip
        codes = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
        return codes, float(np.float32(clip))
    lo, q, scale = _act_grid(bits, clip, signed)
    s32 = np.float32(scale)
    inv = float(np.float32(1.0) / s32)
    codes = x.mul_(inv) if inplace else x.mul(inv)
    return codes.round_().clamp_(lo, q), float(s32)


def _act_grid(bits: int, clip: float, signed: bool) -> tuple[int, int, float]:
    """``(lowest code, highest code, step)`` of an activation grid."""
    q = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    return (-q if signed else 0), q, max(clip, 1e-12) / q


# activation clip from a histogram of |x| ----------------------------------------------------------


def update_histogram(hist: Tensor, upper: float, x: Tensor) -> tuple[Tensor, float, bool]:
    """Add the non-zero ``|x|`` to a histogram over ``[0, upper]``; the range doubles (merging bin pairs) when exceeded.

    Exact zeros (most of a ReLU's output) are left out: every clip quantizes them without error.
    Returns the histogram, its range and whether ``x`` held a negative value.
    """
    x = x.detach()
    if x.numel() == 0:
        return hist, upper, False
    flat = _storage_flat(x)  # aminmax over a channels-last map in index order would copy it
    lo, hi = (float(v) for v in torch.aminmax(flat))
    top = max(-lo, hi)
    if upper <= 0:
        upper = top if top > 0 else 1.0
    while top > upper:
        hist = hist.view(-1, 2).sum(dim=1)
        hist = torch.cat([hist, torch.zeros_like(hist)])
        upper *= 2
    bins = hist.numel()
    sample, weight = _histogram_sample(x, flat)
    counts = _bin_counts(sample, bins / upper, bins, lo < 0).to(hist.device, hist.dtype)
    if weight != 1.0:  # a sample: scaled to the map, and the map's extreme always counted
        counts.mul_(weight)
        counts += _bin_counts(torch.tensor([top]), bins / upper, bins, False).to(hist.device, hist.dtype)
    return hist + counts, upper, lo < 0


def _bin_counts(values: Tensor, per_unit: float, bins: int, absolute: bool) -> Tensor:
    """Counts of ``|values|`` (``absolute``) or ``values`` in ``bins`` bins of ``1 / per_unit``; ``values`` stays as it is.

    Bin ``j`` holds ``(j·w, (j+1)·w]``: exact zeros land in index 0, which is dropped (bincount is ~3x
    faster than histc).
    """
    scaled = values.abs().float().mul_(per_unit) if absolute else torch.mul(values.float(), per_unit)
    index = scaled.ceil_().clamp_(max=bins).to(torch.int32)
    return torch.bincount(index, minlength=bins + 1)[1:]


def _histogram_sample(x: Tensor, flat: Tensor) -> tuple[Tensor, float]:
    """The elements of ``x`` (``flat``: in memory order) a histogram update counts, and each one's weight.

    Up to :data:`HIST_SAMPLE` elements, all of them (weight 1). Beyond it every ``k``-th row of the
    map's memory layout (a channels-last row is one pixel's channels, a contiguous one an image row),
    with ``k`` coprime to the rows of one image, so that over the batch every position and channel is
    sampled alike; each element then stands for the rows left out beside it.
    """
    if flat.numel() <= HIST_SAMPLE or x.dim() < 2:
        return flat, 1.0
    rows = flat.view(-1, x.shape[1] if _is_channels_last(x) else x.shape[-1])
    per_image = max(1, rows.shape[0] // x.shape[0])
    k = math.ceil(flat.numel() / HIST_SAMPLE)
    while math.gcd(k, per_image) != 1:
        k += 1
    picked = rows[::k]
    return picked.reshape(-1), rows.shape[0] / picked.shape[0]


def _storage_flat(t: Tensor) -> Tensor:
    """The elements of ``t`` as one dimension, in memory order: flattening a channels-last
    tensor in index order would copy it, and a histogram does not care about the order."""
    if _is_channels_last(t):
        return t.permute(0, 2, 3, 1).reshape(-1)
    return t.reshape(-1)


def _is_channels_last(t: Tensor) -> bool:
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def act_clip_from_histogram(hist: Tensor, upper: float, bits: int, signed: bool, method: str = "mse") -> float:
    """Clip of an activation quantizer from a histogram of ``|x|`` over ``[0, upper]``.

    ``mse`` minimises the expected squared error (rounding noise ``step²/12`` inside the clip, the
    clipped distance outside), ``percentile`` takes the 99.99th percentile and
    ``max`` the largest value seen.
    """
    hist = hist.double().cpu()
    total = float(hist.sum())
    if total == 0 or upper <= 0:
        return 1.0
    width = upper / hist.numel()
    centers = (torch.arange(hist.numel(), dtype=torch.float64) + 0.5) * width
    nonzero = torch.nonzero(hist).flatten()
    top = float(centers[nonzero[-1]] + width / 2)
    if method == "max":
        return top
    if method == "percentile":
        cdf = hist.cumsum(0) / total
        idx = int(torch.searchsorted(cdf, torch.tensor(0.9999, dtype=torch.float64)))
        return float(centers[min(idx, hist.numel() - 1)] + width / 2)
    if method != "mse":
        raise ValueError(f"unknown activation clip method {method!r}")
    if signed and bits == 1:  # binary ±c: the squared error is smallest at c = mean |x|
        return float((hist * centers).sum() / total)
    levels = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    # candidate clips at the bin edges; prefix sums give every candidate's error in one pass
    last = int(nonzero[-1])
    n, x = hist[: last + 1], centers[: last + 1]
    clips = (torch.arange(last + 1, dtype=torch.float64) + 1) * width
    inside = n.cumsum(0)
    n_out, s1_out, s2_out = (_suffix(v) for v in (n, n * x, n * x * x))
    err = inside * (clips / levels) ** 2 / 12 + s2_out - 2 * clips * s1_out + clips**2 * n_out
    return float(clips[err.argmin()])


def _suffix(v: Tensor) -> Tensor:
    """``out[k] = v[k+1:].sum()``."""
    total = v.sum()
    return total - v.cumsum(0)
