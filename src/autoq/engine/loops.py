"""Evaluation and training loops shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Accuracy:
    """Top-1 / top-5 counts; fractions are derived so that counts from several processes add up exactly."""

    correct1: int
    correct5: int
    n: int
    loss_sum: float = 0.0  # summed cross-entropy: it tells apart equal accuracies (a saturated small split)

    @property
    def top1(self) -> float:
        return self.correct1 / self.n if self.n else 0.0

    @property
    def loss(self) -> float:
        """Mean cross-entropy per image."""
        return self.loss_sum / self.n if self.n else 0.0

    @property
    def top5(self) -> float:
        return self.correct5 / self.n if self.n else 0.0

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "loss": self.loss}


def count_correct(logits: Tensor, y: Tensor) -> tuple[int, int]:
    """Top-1 and top-5 hits of one batch (top-5 is top-k with k = min(5, classes))."""
    k = min(5, logits.shape[1])
    topk = logits.topk(k, dim=1).indices
    hits = topk == y[:, None]
    return int(hits[:, 0].sum()), int(hits.any(dim=1).sum())


def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], device: torch.device | str = "cpu") -> Accuracy:
    """Top-1 / top-5 of ``model`` over ``batches`` (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    c1 = c5 = n = 0
    loss_sum = 0.0
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            a, b = count_correct(logits, y)
            c1, c5, n = c1 + a, c5 + b, n + y.shape[0]
            loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
    model.train(was_training)
    return Accuracy(c1, c5, n, loss_sum)
