"""The shared evaluation loop: top-1 / top-5 counts and the summed loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autoq.engine.loops import Accuracy, evaluate, logits_of


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


def test_kl_from_reference_logits_and_the_reward_scores():
    torch.manual_seed(1)
    model, other = torch.nn.Linear(5, 4), torch.nn.Linear(5, 4)
    batches = [(torch.randn(8, 5), torch.randint(0, 4, (8,))) for _ in range(3)]
    reference = logits_of(other, batches)
    acc = evaluate(model, batches, reference=reference)
    x = torch.cat([b[0] for b in batches])
    with torch.no_grad():
        p_ref = F.softmax(other(x), 1)
        expected = float((p_ref * (p_ref.log() - F.log_softmax(model(x), 1))).sum(1).mean())
    assert acc.kl == pytest.approx(expected, rel=1e-5)
    assert evaluate(other, batches, reference=reference).kl == pytest.approx(0.0, abs=1e-6)
    assert acc.score("top1") == acc.top1
    assert acc.score("loss") == pytest.approx(math.exp(-acc.loss))
    assert acc.score("kl") == pytest.approx(math.exp(-expected), rel=1e-5)
    with pytest.raises(ValueError, match="unknown reward metric 'auc'"):
        acc.score("auc")
