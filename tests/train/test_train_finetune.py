"""Quantization-aware finetuning: from a run folder and from a policy, best epoch kept, resume."""

from __future__ import annotations

import json

import pytest
import torch

from autoq.cli.main import main
from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.search import RunConfig, finetune, search

DIGITS = dict(dataset="digits", calib_size=64, reward_size=200, batch_size=200)


def test_finetune_cli_on_a_search_folder(tiny, capsys):
    result = search(progress=False, **{**tiny, "episodes": 2})
    assert main(["finetune", "--run", str(result.run_dir), "--epochs", "2", "--train-batch-size", "64", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 364 and 0 <= out["top1"] <= 1 and out["best_epoch"] in (0, 1, 2)
    assert out["reward_top1_after"] >= out["reward_top1_before"]
    rows = rf.read_rows(result.run_dir / rf.FINETUNE_CSV)
    assert [r["epoch"] for r in rows] == [1, 2]
    state = torch.load(result.run_dir / rf.FINETUNED, weights_only=True)
    assert any(k.endswith("w_bits") for k in state)


def test_finetune_improves_a_damaged_policy_and_resumes(default_cache, tmp_path):
    from autoq.engine.setup import build_model

    layers = build_model().layers
    policy = Policy.uniform(layers, 2, 3)
    run = RunConfig(**DIGITS)
    from autoq.config import FinetuneConfig

    ft = FinetuneConfig(epochs=2, train_batch_size=64, lr=0.01)
    full = finetune(policy, run, ft, run_dir=tmp_path / "full", progress=False)
    assert full.reward_top1_after > full.reward_top1_before  # 2/3 bits loses accuracy that training recovers
    assert full.float_top1 == pytest.approx(362 / 364)
    cut = finetune(policy, run, FinetuneConfig(epochs=1, train_batch_size=64, lr=0.01), run_dir=tmp_path / "cut", progress=False)
    resumed = finetune(policy, run, ft, run_dir=tmp_path / "cut", resume=True, progress=False)
    assert [h["reward_top1"] for h in resumed.history] == [h["reward_top1"] for h in full.history]
    assert resumed.top1 == full.top1 and cut.history[0]["train_loss"] == pytest.approx(full.history[0]["train_loss"])


def test_equal_reward_accuracy_keeps_the_epoch_with_the_lower_loss(default_cache, tmp_path):
    """At 8 bits the digits CNN is right on every reward image before and after each epoch: the loss decides."""
    from autoq.config import FinetuneConfig
    from autoq.engine.setup import build_model

    policy = Policy.uniform(build_model().layers, 8, 8)
    result = finetune(
        policy, RunConfig(**DIGITS), FinetuneConfig(epochs=2, train_batch_size=64), run_dir=tmp_path, progress=False
    )
    assert result.reward_top1_before == 1.0 and all(h["reward_top1"] == 1.0 for h in result.history)
    losses = [h["reward_loss"] for h in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))  # not the starting point (epoch 0), which ties


def test_finetune_cli_errors(tmp_path, capsys):
    assert main(["finetune", "--run", str(tmp_path)]) == 2
    assert "not a finished search folder" in capsys.readouterr().err
