"""The small CNN of the embedded default (digits, 1x8x8)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU stages (32, 64, 64 channels), one 2x2 max-pool, global average pool, linear.

    56 k weights and 1.8 M multiply-accumulates on 8x8 inputs: small enough to train in seconds on
    one CPU core, with four quantizable layers of different widths for the bit-width search to tell
    apart. Global pooling lets it run on other input sizes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, 32),
            *block(32, 64),
            nn.MaxPool2d(2),
            *block(64, 64),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
