"""The embedded default: shipped weights, identical on every machine, loaded without training."""

from __future__ import annotations

import hashlib

import torch

from autoq.data import load_dataset
from autoq.models import create_model, default_model, default_weights_path
from autoq.models.default import default_metadata

# sha256 of the shipped file: retraining with tools/train_default_model.py changes it, and then the
# figures below (and those of the tests that use this model, e.g. 362 of 364) must be checked again.
SHIPPED_SHA256 = "40789bd863e31001231d4038680c39e794a4fc36b2d780c0af92664cd97d25f2"


def test_default_model_loads_the_shipped_weights_without_a_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path / "nothing-here"))
    model, path = default_model()
    assert path == default_weights_path() and path.suffix == ".safetensors" and not model.training
    assert not (tmp_path / "nothing-here").exists()  # nothing trained, nothing written
    x, y = load_dataset("digits").test.tensors
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum())
    meta = default_metadata()
    assert correct == meta["test_correct"] == 362 and meta["test_images"] == len(y) == 364
    again, _ = default_model()
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    pretrained = create_model("digits-cnn", pretrained=True)
    assert torch.equal(pretrained.classifier.weight, model.classifier.weight)


def test_shipped_weights_are_small_package_data() -> None:
    import tomllib
    from pathlib import Path

    path = default_weights_path()
    assert path.stat().st_size < 512 * 1024
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "models/weights/*.safetensors" in pyproject["tool"]["setuptools"]["package-data"]["autoq"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHIPPED_SHA256
