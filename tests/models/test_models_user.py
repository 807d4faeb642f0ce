"""Models users bring: a Python factory, TorchScript, a pickled model only on request."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from autoq.errors import AutoQError
from autoq.models import create_model, model_spec

FACTORY = textwrap.dedent(
    """
    from torch import nn

    INPUT_SHAPE = (3, 16, 16)

    def make(num_classes=5):
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(4, num_classes))

    def not_a_model():
        return 42
    """
)


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(FACTORY)
    return path


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6)).eval()


def test_python_factory(factory_file, tmp_path) -> None:
    ref = f"{factory_file}:make"
    model = create_model(ref)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 5)
    assert create_model(ref, num_classes=3)(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    spec = model_spec(ref)
    assert spec.input_shape == (3, 16, 16) and spec.default_dataset is None
    assert model_spec(ref, input_shape=(3, 8, 8)).input_shape == (3, 8, 8)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    assert isinstance(create_model(ref, weights=tmp_path / "w.pt"), nn.Module)


def test_python_factory_errors(factory_file) -> None:
    with pytest.raises(AutoQError, match="defines no callable 'missing'"):
        create_model(f"{factory_file}:missing")
    with pytest.raises(AutoQError, match="returned int, not a torch.nn.Module"):
        create_model(f"{factory_file}:not_a_model")
    with pytest.raises(AutoQError, match="not found"):
        create_model("nowhere/net.py:make")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript(tmp_path) -> None:
    net = _net()
    path = tmp_path / "net.ts"
    torch.jit.script(net).save(str(path))
    model = create_model(str(path))
    x = torch.randn(2, 3, 12, 12)
    assert torch.allclose(model(x), net(x))
    with pytest.raises(AutoQError, match="pass --input-shape"):
        model_spec(str(path))
    assert model_spec(str(path), input_shape=(3, 12, 12)).input_shape == (3, 12, 12)


def test_pickled_model_needs_explicit_trust(tmp_path) -> None:
    net = _net()
    path = tmp_path / "whole.pt"
    torch.save(net, path)
    with pytest.raises(AutoQError, match="pickled model.*--trust-checkpoint"):
        create_model(str(path))
    model = create_model(str(path), trust_checkpoint=True)
    x = torch.randn(1, 3, 12, 12)
    assert torch.allclose(model(x), net(x))


def test_state_dict_given_as_model_points_to_weights(tmp_path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(_net().state_dict(), path)
    with pytest.raises(AutoQError, match="holds only weights.*--weights"):
        create_model(str(path))
