"""Layer discovery: forward order, shapes, MACs, reused and unreached modules."""

from __future__ import annotations

import torch
from torch import nn

from autoq.quant import discover_layers


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Linear(8, 3)  # registered first, called last
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.shared = nn.Conv2d(8, 8, 1)
        self.unused = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        x = self.dw(self.conv(x))
        x = self.shared(self.shared(x))
        return self.late(x.mean(dim=(2, 3)))


def test_forward_order_shapes_and_macs():
    disc = discover_layers(Branchy(), torch.zeros(1, 3, 16, 16))
    names = [l.name for l in disc.layers]
    assert names == ["conv", "dw", "shared", "late"]
    conv, dw, shared, late = disc.layers
    assert conv.in_hw == (16, 16) and conv.out_hw == (8, 8) and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert conv.kernel_numel == 27 and conv.params == 216 and conv.macs == 216 * 64
    assert dw.depthwise and dw.groups == 8 and dw.kernel_numel == 9 and dw.macs == 8 * 9 * 64
    assert late.kind == "linear" and late.macs == 24 and late.in_hw == (1, 1)
    assert shared.calls == 2
    assert disc.reused == ["shared"] and disc.unreached == ["unused"]
    assert any("shared" in w for w in disc.warnings()) and any("unused" in w for w in disc.warnings())


def test_linear_over_positions():
    model = nn.Sequential(nn.Linear(6, 4))
    (layer,) = discover_layers(model, torch.zeros(2, 5, 6)).layers
    assert layer.in_hw == (5, 1) and layer.macs == 24 * 5
