"""State-dict loading: weights_only, nesting, ``module.`` prefixes, key and shape checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autoq.errors import AutoQError
from autoq.models import create_model, load_weights


def _model() -> nn.Module:
    return create_model("digits-cnn")


def _assert_same(a: nn.Module, b: nn.Module) -> None:
    for key, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[key], value), key


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module", "nested-module"])
def test_accepted_layouts(tmp_path, wrap: str) -> None:
    src = _model()
    state = src.state_dict()
    if wrap in ("module", "nested-module"):
        state = {f"module.{k}": v for k, v in state.items()}
    obj = {"state_dict": state, "best_prec1": 91.0} if wrap.startswith(("state_dict", "nested")) else state
    torch.save(obj, tmp_path / "w.pt")
    dst = _model()
    load_weights(dst, tmp_path / "w.pt")
    _assert_same(src, dst)


def test_missing_and_unexpected_keys_are_listed(tmp_path) -> None:
    state = _model().state_dict()
    del state["classifier.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(AutoQError, match=r"missing keys: classifier\.weight; unexpected keys: extra\.weight"):
        load_weights(_model(), tmp_path / "w.pt")


def test_shape_mismatch_is_named(tmp_path) -> None:
    torch.save(create_model("digits-cnn", num_classes=5).state_dict(), tmp_path / "w.pt")
    with pytest.raises(AutoQError, match=r"classifier\.weight \(5, 64\) vs model \(10, 64\)"):
        load_weights(_model(), tmp_path / "w.pt")


def test_missing_file() -> None:
    with pytest.raises(AutoQError, match="weights file 'nowhere.pt' not found"):
        load_weights(_model(), "nowhere.pt")


def test_pickled_objects_are_not_unpickled(tmp_path) -> None:
    torch.save({"state_dict": _model().state_dict(), "model": _model()}, tmp_path / "w.pt")
    with pytest.raises(AutoQError, match="not a weights-only checkpoint"):
        load_weights(_model(), tmp_path / "w.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AutoQError, match="not a weights-only checkpoint"):
        load_weights(_model(), tmp_path / "junk.pt")


def test_old_checkpoints_without_batchnorm_counters_load(tmp_path) -> None:
    state = {k: v for k, v in _model().state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "w.pt")
    load_weights(_model(), tmp_path / "w.pt")
