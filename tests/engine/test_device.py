"""Devices and layouts: the channels-last choice on CPUs, and the CUDA path agreeing with the CPU one.

The CUDA tests run where a GPU is (they skip elsewhere, CI included).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autoq.engine.device import fast_memory_format
from autoq.quant import quantizer as Q

CPU = torch.device("cpu")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class ViewsSpatialMap(nn.Module):
    """A CNN whose head ``view``s an 8x8 feature map, which a channels-last tensor cannot be."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).view(x.shape[0], -1))


def test_channels_last_for_a_convolutional_network_on_the_cpu():
    from autoq.models.cifar_resnet import CifarResNet

    assert fast_memory_format(CifarResNet(20), torch.zeros(4, 3, 32, 32), CPU) is torch.channels_last


def test_contiguous_where_channels_last_cannot_or_need_not_be_used():
    x = torch.zeros(4, 3, 8, 8)
    assert fast_memory_format(ViewsSpatialMap(), x, CPU) is torch.contiguous_format
    assert fast_memory_format(nn.Sequential(nn.Flatten(), nn.Linear(192, 10)), x, CPU) is torch.contiguous_format
    assert fast_memory_format(nn.Conv2d(3, 4, 3), x, torch.device("cuda")) is torch.contiguous_format


def test_a_search_scores_policies_the_same_in_either_layout(tiny, monkeypatch):
    from autoq.search import environment, search

    fast = search(progress=False, **{**tiny, "episodes": 3, "out": tiny["out"] + "-cl"}).episodes
    monkeypatch.setattr(environment, "fast_memory_format", lambda *a: torch.contiguous_format)
    plain = search(progress=False, **{**tiny, "episodes": 3}).episodes
    assert [r["accuracy"] for r in fast] == [r["accuracy"] for r in plain]
    assert [r["latency_s"] for r in fast] == [r["latency_s"] for r in plain]


@cuda
def test_quantizers_agree_bit_for_bit_on_the_gpu():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 16, 3, 3, generator=g)
    bits = torch.randint(1, 9, (64,), generator=g)
    clips = w.reshape(64, -1).abs().amax(1) * 0.9
    cpu = Q.quantize_kernels(w, bits, clips)[0]
    gpu = Q.quantize_kernels(w.cuda(), bits.cuda(), clips.cuda())[0].cpu()
    multi = bits >= 2  # a 1-bit kernel's scale is a mean, summed in another order on the GPU
    assert torch.equal(cpu[multi], gpu[multi])
    assert torch.allclose(cpu[~multi], gpu[~multi], rtol=1e-6, atol=0)
    x = torch.rand(8, 16, 32, 32, generator=g) * 3
    for b in (2, 4, 8):
        assert torch.equal(Q.fake_quant_act(x, b, 2.5, False), Q.fake_quant_act(x.cuda(), b, 2.5, False).cpu())
        xs = x - 1.5
        assert torch.equal(Q.fake_quant_act(xs, b, 1.0, True), Q.fake_quant_act(xs.cuda(), b, 1.0, True).cpu())


@cuda
def test_a_search_on_the_gpu_matches_the_cpu(tiny):
    from autoq.search import search

    settings = {**tiny, "episodes": 3, "agent_options": {**tiny["agent_options"], "warmup_episodes": 3}}
    cpu = search(progress=False, **settings).episodes
    gpu = search(progress=False, **{**settings, "device": "cuda", "out": settings["out"] + "-cuda"}).episodes
    assert [r["latency_s"] for r in gpu] == [r["latency_s"] for r in cpu]  # same policies: the agent lives on the CPU
    n = settings["reward_size"]
    assert np.allclose([r["accuracy"] for r in gpu], [r["accuracy"] for r in cpu], atol=1.5 / n)


@cuda
@pytest.mark.parametrize("amp", [False, True])
def test_finetuning_on_the_gpu_recovers_accuracy(default_cache, tmp_path, amp):
    from autoq.config import FinetuneConfig
    from autoq.engine.setup import build_model
    from autoq.quant import Policy
    from autoq.search import RunConfig, finetune

    policy = Policy.uniform(build_model().layers, 2, 3)
    run = RunConfig(dataset="digits", calib_size=64, reward_size=200, batch_size=200, device="cuda")
    out = finetune(policy, run, FinetuneConfig(epochs=2, train_batch_size=64, lr=0.01, amp=amp), run_dir=tmp_path, progress=False)
    assert out.reward_top1_after > out.reward_top1_before
