"""The shared evaluation loop: top-1 / top-5 counts and the summed loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autoq.engine.loops import Accuracy, evaluate


def test_evaluate_counts_hits_and_sums_the_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 7)
    xs, ys = torch.randn(30, 5), torch.randint(0, 7, (30,))
    acc = evaluate(model, [(xs[:16], ys[:16]), (xs[16:], ys[16:])])
    logits = model(xs).detach()
    top5 = logits.topk(5, dim=1).indices
    assert acc.n == 30 and acc.correct1 == int((logits.argmax(1) == ys).sum())
    assert acc.correct5 == int((top5 == ys[:, None]).any(1).sum())
    assert acc.loss == pytest.approx(float(F.cross_entropy(logits, ys)), rel=1e-5)
    assert acc.to_dict()["loss"] == acc.loss


def test_an_empty_split_scores_zero():
    assert Accuracy(0, 0, 0).to_dict() == {"top1": 0.0, "top5": 0.0, "n": 0, "loss": 0.0}
