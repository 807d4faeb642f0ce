"""The embedded default: trained once on digits to at least 95 %, cached, reused."""

from __future__ import annotations

import torch

from autoq.data import load_dataset
from autoq.models import create_model, default_model, default_weights_path
from autoq.models import default as default_module


def test_default_model_trains_once_and_is_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path))
    model, path = default_model()
    assert path == default_weights_path() and path.is_file() and path.parent.parent == tmp_path
    assert not model.training
    x, y = load_dataset("digits").test.tensors
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.95
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["test_accuracy"] == accuracy and meta["train_seconds"] < 60

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although cached")

    monkeypatch.setattr(default_module, "train_digits_cnn", no_training)
    again, again_path = default_model()
    assert again_path == path
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    pretrained = create_model("digits-cnn", pretrained=True)
    assert torch.equal(pretrained.classifier.weight, model.classifier.weight)


def test_corrupt_cache_is_replaced(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path))
    path = default_weights_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    calls = []

    def fake_training(*args, **kwargs):  # the real one is tested above; this checks the cache handling
        calls.append(1)
        return create_model("digits-cnn"), {"test_accuracy": 0.5}

    monkeypatch.setattr(default_module, "train_digits_cnn", fake_training)
    _, p = default_model()
    assert calls == [1] and torch.load(p, weights_only=True)["meta"]["test_accuracy"] == 0.5
