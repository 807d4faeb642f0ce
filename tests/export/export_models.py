"""Small networks and calibrated quantized copies for the export tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autoq.quant import Policy, apply_policy, calibrate, discover_layers

INPUT_SHAPE = (3, 12, 12)


class TinyNet(nn.Module):
    """Conv-BN-ReLU, a grouped conv with bias and a residual add, a depthwise conv, a BatchNorm after a
    ReLU (not foldable), pooling and a linear layer: every case the exports handle."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.bn2 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.bn3 = nn.BatchNorm2d(8)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 3 * 3, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)) + x)
        x = self.bn3(torch.relu(self.dw(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def tiny_net(seed: int = 0) -> nn.Module:
    """A TinyNet with random weights and non-trivial batch-norm statistics (one negative gamma)."""
    torch.manual_seed(seed)
    net = TinyNet()
    for bn in (net.bn1, net.bn2, net.bn3):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    net.bn1.weight.data[0] = -0.7
    return net.eval()


def inputs(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, *INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))


def random_policy(net: nn.Module, seed: int = 0, w_bits=(1, 8), a_bits=(2, 8), prune: bool = False) -> Policy:
    """Kernel-wise bits drawn uniformly (a few pruned kernels with ``prune``)."""
    rng = np.random.default_rng(seed)
    layers = discover_layers(net, torch.zeros(1, *INPUT_SHAPE)).layers
    wb = {l.name: rng.integers(w_bits[0], w_bits[1] + 1, l.c_out) for l in layers}
    if prune:
        for bits in wb.values():
            bits[rng.integers(0, bits.size)] = 0
    return Policy(wb, {l.name: int(rng.integers(a_bits[0], a_bits[1] + 1)) for l in layers})


def quantized(net: nn.Module, policy: Policy, calib_seed: int = 2) -> nn.Module:
    q = apply_policy(net, policy)
    calibrate(q, [inputs(64, calib_seed)])
    return q.eval()
