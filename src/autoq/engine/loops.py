"""Evaluation shared by every command: accuracy, loss and KL divergence of a model over batches, and its logits.

The training loops live in :mod:`autoq.train`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    kl_sum: float = 0.0  # summed KL divergence from a reference model's softmax (0 without a reference)

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

    @property
    def kl(self) -> float:
        """Mean KL divergence per image of the reference's softmax from this model's."""
        return self.kl_sum / self.n if self.n else 0.0

    def score(self, metric: str) -> float:
        """The reward's accuracy term in (0, 1]: top-1; ``exp(-loss)``, the geometric mean of the
        probability given to the true class; or ``exp(-kl)``, 1 when the model agrees with the reference."""
        if metric == "top1":
            return self.top1
        if metric == "loss":
            return math.exp(-self.loss)
        if metric == "kl":
            return math.exp(-self.kl)
        raise ValueError(f"unknown reward metric {metric!r}; choose top1, loss or kl")

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "loss": self.loss}


def kl_from_reference(logits: Tensor, reference: Tensor) -> float:
    """Summed ``KL(softmax(reference) || softmax(logits))`` over a batch."""
    ref_logp = F.log_softmax(reference.float(), dim=1)
    return float(F.kl_div(F.log_softmax(logits.float(), dim=1), ref_logp, log_target=True, reduction="sum"))


def count_correct(logits: Tensor, y: Tensor) -> tuple[int, int]:
    """Top-1 and top-5 hits of one batch (top-5 is top-k with k = min(5, classes))."""
    k = min(5, logits.shape[1])
    topk = logits.topk(k, dim=1).indices
    hits = topk == y[:, None]
    return int(hits[:, 0].sum()), int(hits.any(dim=1).sum())


def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str = "cpu",
    reference: Sequence[Tensor] | None = None,
) -> Accuracy:
    """Top-1 / top-5 and loss of ``model`` over ``batches`` (eval mode, no gradients).

    ``reference`` holds another model's logits of the same batches in the same order (the float
    model's, for the KL reward); the KL divergence from them is summed into ``kl_sum``.
    """
    was_training = model.training
    model.eval()
    c1 = c5 = n = 0
    loss_sum = kl_sum = 0.0
    with torch.no_grad():
        for i, (x, y) in enumerate(batches):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            a, b = count_correct(logits, y)
            c1, c5, n = c1 + a, c5 + b, n + y.shape[0]
            loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            if reference is not None:
                kl_sum += kl_from_reference(logits, reference[i].to(logits.device))
    model.train(was_training)
    return Accuracy(c1, c5, n, loss_sum, kl_sum)


def logits_of(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], device: torch.device | str = "cpu") -> list[Tensor]:
    """``model``'s logits of every batch, in order (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = [model(x.to(device, non_blocking=True)).float() for x, _ in batches]
    model.train(was_training)
    return out
