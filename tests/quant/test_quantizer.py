"""Properties of the kernel-wise quantizer (Hypothesis) and of the activation quantizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autoq.quant import quantizer as Q
from autoq.quant.modules import QuantConv2d

finite = st.floats(-4.0, 4.0, allow_nan=False, width=32)


@st.composite
def kernels_and_bits(draw, min_bits=0):
    c_out = draw(st.integers(1, 6))
    k = draw(st.integers(1, 24))
    w = draw(arrays(np.float32, (c_out, k), elements=finite))
    bits = draw(arrays(np.int64, (c_out,), elements=st.integers(min_bits, 8)))
    return torch.from_numpy(w), torch.from_numpy(bits)


@settings(max_examples=200, deadline=None)
@given(kernels_and_bits(), st.sampled_from(["mse", "max"]))
def test_codes_on_grid_and_in_range(case, method):
    w, bits = case
    clips = Q.WEIGHT_CLIP_METHODS[method](w).gather(1, bits[:, None]).squeeze(1)
    w_q, codes, scales = Q.quantize_kernels(w, bits, clips)
    assert torch.equal(codes, torch.round(codes)), "codes are integers"
    qmax = torch.where(bits >= 2, 2 ** (bits - 1) - 1, torch.ones_like(bits)).float()
    assert (codes.abs() <= qmax[:, None]).all()
    assert (codes[bits == 0] == 0).all()
    one = bits == 1
    assert ((codes[one] == 1) | (codes[one] == -1) | (scales[one][:, None] == 0)).all()
    torch.testing.assert_close(w_q, codes * scales[:, None])


@settings(max_examples=200, deadline=None)
@given(kernels_and_bits(min_bits=1))
def test_kernel_uses_at_most_2b_minus_1_levels(case):
    w, bits = case
    w_q, _, _ = Q.quantize_kernels(w, bits, Q.mse_clips(w).gather(1, bits[:, None]).squeeze(1))
    for o in range(w.shape[0]):
        levels = torch.unique(w_q[o]).numel()
        b = int(bits[o])
        assert levels <= (2 if b == 1 else 2**b - 1)


@settings(max_examples=200, deadline=None)
@given(kernels_and_bits())
def test_error_never_grows_with_bits_mse_clip(case):
    w, _ = case
    table = Q.mse_clips(w)
    errors = []
    for b in range(0, 9):
        bits = torch.full((w.shape[0],), b)
        w_q, _, _ = Q.quantize_kernels(w, bits, table[:, b])
        errors.append(Q.kernel_error(w, w_q))
    errors = torch.stack(errors, dim=1)  # [c_out, bits]
    tol = 1e-5 * w.pow(2).sum(dim=1, keepdim=True) + 1e-12
    assert (errors[:, 1:] <= errors[:, :-1] + tol).all(), errors


def test_max_clip_grids_are_not_nested():
    """Why the MSE clip is the default: with clip = max|w|, a kernel on the 3-bit grid loses at 4 bits."""
    w = torch.tensor([[1.0, 1 / 3, -2 / 3, 0.0]])
    table = Q.max_clips(w)
    err = [Q.kernel_error(w, Q.quantize_kernels(w, torch.tensor([b]), table[:, b])[0]).item() for b in (3, 4)]
    assert err[0] < 1e-12 < err[1]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 7), st.integers(0, 8), st.integers(0, 2**16))
def test_changing_one_kernel_changes_only_its_channel(channel, new_bits, seed):
    g = torch.Generator().manual_seed(seed)
    conv = torch.nn.Conv2d(4, 8, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
    q = QuantConv2d.from_float(conv)
    q.set_bits(torch.full((8,), 4), 8)
    q.observing = True
    x = torch.randn(2, 4, 6, 6, generator=g)
    q(x)
    q.observing = False
    before = q(x)
    bits = torch.full((8,), 4)
    bits[channel] = new_bits
    q.set_bits(bits, 8)
    after = q(x)
    others = [c for c in range(8) if c != channel]
    assert torch.equal(before[:, others], after[:, others])


def test_straight_through_gradients():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    q = QuantConv2d.from_float(conv)
    q.set_bits(torch.tensor([1, 2, 4, 8]), 8)
    x = torch.randn(2, 3, 5, 5)
    q.observing = True
    q(x)
    q.observing = False
    q.train()
    x.requires_grad_(True)
    q(x).sum().backward()
    # STE: d out / d w equals the gradient with respect to the quantized weights
    w_q = q.quantize_weight()[0].requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    ref = torch.nn.functional.conv2d(Q.fake_quant_act(x2, 8, q.activation_clip(), True), w_q, conv.bias)
    ref.sum().backward()
    torch.testing.assert_close(q.weight.grad, w_q.grad)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activation_levels_and_range(bits, signed):
    x = torch.linspace(-3 if signed else 0, 3, 1001)
    y = Q.fake_quant_act(x, bits, 2.0, signed)
    levels = torch.unique(y).numel()
    assert levels == (2**bits - 1 if signed else 2**bits)
    assert y.abs().max() <= 2.0 + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 300), elements=st.floats(-8.0, 8.0, allow_nan=False, width=32)),
    st.integers(2, 8),
    st.floats(1e-3, 6.0, allow_nan=False),
    st.booleans(),
)
def test_activation_fast_path_equals_atens_fake_quantizer(x, bits, clip, signed):
    """Without gradients the activations take a cheaper path that must agree bit for bit."""
    x = torch.from_numpy(x)
    with torch.no_grad():
        fast = Q.fake_quant_act(x, bits, clip, signed)
    slow = Q.fake_quant_act(x.clone().requires_grad_(True), bits, clip, signed).detach()
    assert torch.equal(fast, slow)


def test_histogram_doubles_range_and_keeps_counts():
    hist = torch.zeros(Q.HIST_BINS, dtype=torch.float64)
    hist, upper, negative = Q.update_histogram(hist, 0.0, torch.tensor([0.5, 1.0, 0.0]))
    assert not negative
    hist, upper, negative = Q.update_histogram(hist, upper, torch.tensor([-3.5]))
    assert negative and upper >= 3.5 and hist.sum() == 3  # the exact zero is not counted


@pytest.mark.parametrize("signed", [False, True])
def test_histogram_ignores_layout_and_dtype(signed):
    """Channels-last maps (the search's layout), other strides and half precision count as contiguous float32 does."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5, 5) * 3
    x = x if signed else x.relu()
    empty = torch.zeros(Q.HIST_BINS, dtype=torch.float64)
    ref, upper, negative = Q.update_histogram(empty, 0.0, x)
    assert negative == signed and int(ref.sum()) == int((x != 0).sum())
    for other in (x.contiguous(memory_format=torch.channels_last), x.transpose(0, 1)):
        hist, up, neg = Q.update_histogram(empty, 0.0, other)
        assert torch.equal(hist, ref) and (up, neg) == (upper, negative)
    half = x.half()
    assert torch.equal(Q.update_histogram(empty, upper, half)[0], Q.update_histogram(empty, upper, half.float())[0])


@pytest.mark.parametrize("method", ["mse", "percentile", "max"])
def test_activation_clip_methods(method):
    torch.manual_seed(0)
    x = torch.randn(100_000).abs()
    hist, upper, _ = Q.update_histogram(torch.zeros(Q.HIST_BINS, dtype=torch.float64), 0.0, x)
    clip2 = Q.act_clip_from_histogram(hist, upper, 2, False, method)
    clip8 = Q.act_clip_from_histogram(hist, upper, 8, False, method)
    assert 0 < clip2 <= float(x.max()) + upper / Q.HIST_BINS
    if method == "mse":
        assert clip2 < clip8  # fewer levels: clip harder
    else:
        assert clip2 == clip8


def test_signed_binary_activations():
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0], requires_grad=True)
    y = Q.fake_quant_act(x, 1, 0.5, signed=True)
    assert y.tolist() == [-0.5, -0.5, 0.5, 0.5, 0.5]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    hist, upper, _ = Q.update_histogram(torch.zeros(Q.HIST_BINS, dtype=torch.float64), 0.0, torch.tensor([-1.0, 3.0]))
    assert Q.act_clip_from_histogram(hist, upper, 1, True) == pytest.approx(2.0, rel=1e-2)


@pytest.mark.parametrize("bits, signed", [(2, False), (4, False), (3, True), (8, True)])
def test_mse_activation_clip_matches_brute_force(bits, signed):
    torch.manual_seed(bits)
    x = torch.randn(20_000).abs() ** 1.5
    hist, upper, _ = Q.update_histogram(torch.zeros(Q.HIST_BINS, dtype=torch.float64), 0.0, x)
    clip = Q.act_clip_from_histogram(hist, upper, bits, signed, "mse")
    width = upper / Q.HIST_BINS
    centers = (torch.arange(Q.HIST_BINS, dtype=torch.float64) + 0.5) * width
    levels = 2 ** (bits - 1) - 1 if signed else 2**bits - 1

    def expected_error(c):
        inside = centers <= c
        return float((hist * torch.where(inside, (c / levels) ** 2 / 12, (centers - c) ** 2)).sum())

    edges = [(k + 1) * width for k in range(int(torch.nonzero(hist).max()) + 1)]
    assert expected_error(clip) <= min(expected_error(c) for c in edges) * (1 + 1e-9)


def test_histogram_of_a_small_map_counts_every_element(monkeypatch):
    """Up to HIST_SAMPLE elements nothing is sampled: the counts are exact."""
    x = torch.randn(2, 8, 16, 16).relu().contiguous(memory_format=torch.channels_last)
    hist, _, _ = Q.update_histogram(torch.zeros(Q.HIST_BINS, dtype=torch.float64), 0.0, x)
    assert hist.sum() == int((x != 0).sum())


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_histogram_of_a_large_map_samples_rows_and_keeps_the_clip(monkeypatch, layout):
    """Beyond HIST_SAMPLE elements an even sample of rows stands for the map: the total and the extreme
    agree with counting everything, and so, up to the sample's noise in the tail, do the clips, in
    either layout. Channels of very different scales: a sample that missed some would move the clips."""
    gen = torch.Generator().manual_seed(0)
    scale = torch.logspace(-1, 1, 12)[None, :, None, None]
    x = (torch.randn(160, 12, 32, 32, generator=gen) * scale).relu().contiguous(memory_format=layout)
    empty = torch.zeros(Q.HIST_BINS, dtype=torch.float64)
    full, upper, _ = Q.update_histogram(empty, 0.0, x)
    monkeypatch.setattr(Q, "HIST_SAMPLE", x.numel() // 5)
    sampled, upper_s, _ = Q.update_histogram(empty, 0.0, x)
    assert upper_s == upper
    assert float(sampled.sum()) == pytest.approx(float(full.sum()), rel=0.01)
    assert int(torch.nonzero(sampled)[-1]) == int(torch.nonzero(full)[-1])  # the extreme is always counted
    assert Q.act_clip_from_histogram(sampled, upper, 8, False, "max") == Q.act_clip_from_histogram(full, upper, 8, False, "max")

    def error(bits: int, clip: float) -> float:
        return float((Q.fake_quant_act(x, bits, clip, False) - x).pow(2).mean())

    for bits in (2, 4, 6, 8):
        exact, approx = (Q.act_clip_from_histogram(h, upper, bits, False) for h in (full, sampled))
        # at 8 bits the error is flat over a wide range of clips, set by the sparse tail a sample sees less of
        if bits < 8:
            assert approx == pytest.approx(exact, rel=0.05)
        assert error(bits, approx) <= (1.05 if bits == 8 else 1.02) * error(bits, exact)
