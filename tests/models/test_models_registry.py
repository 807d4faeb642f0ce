"""Every registered model builds and runs; names, specs and bad input behave."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from autoq.errors import AutoQError
from autoq.models import create_model, example_input, list_models, model_spec

# Smallest convenient input side per model (default 32); ViTs are built for the size they are given.
_TEST_HW = {"alexnet": 64, "inception_v3": 75, "maxvit_t": 224, "vit_h_14": 28}
_BIG = 100_000_000  # parameters: these take over a second each to build; CI still runs them


def _params(name: str) -> int:
    pre = model_spec(name).preprocess
    return (pre or {}).get("num_params") or 0


def _cases() -> list:
    return [pytest.param(name, marks=pytest.mark.slow) if _params(name) > _BIG else name for name in list_models()]


@pytest.mark.parametrize("name", _cases())
def test_every_registered_model_runs_a_forward_pass(name: str) -> None:
    spec = model_spec(name)
    hw = _TEST_HW.get(name, min(32, spec.input_shape[1]))
    shape = (spec.input_shape[0], hw, hw)
    model = create_model(name, num_classes=7, input_shape=shape if name.startswith("vit_") else None)
    assert not model.training
    with torch.no_grad():
        out = model(example_input(shape, batch=2))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_registry_names_the_required_models() -> None:
    names = set(list_models())
    assert {"resnet18", "resnet50", "squeezenet1_0", "mobilenet_v2", "digits-cnn"} <= names
    assert {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110"} <= names
    import torchvision

    assert set(torchvision.models.list_models(module=torchvision.models)) <= names
    assert list_models("resnet2*") == ["resnet20"]
    assert list_models("squeezenet*") == ["squeezenet1_0", "squeezenet1_0-cifar", "squeezenet1_1"]


def test_specs() -> None:
    s = model_spec("resnet20")
    assert (s.input_shape, s.num_classes, s.default_dataset) == ((3, 32, 32), 10, "cifar10-subset")
    s = model_spec("digits-cnn")
    assert (s.input_shape, s.num_classes, s.default_dataset) == ((1, 8, 8), 10, "digits")
    s = model_spec("resnet50")
    assert (s.input_shape, s.num_classes, s.default_dataset) == ((3, 224, 224), 1000, "imagenet")
    assert s.preprocess["resize_size"] == 232  # torchvision's recipe for its V2 weights
    assert model_spec("inception_v3").input_shape == (3, 299, 299)
    s = model_spec("resnet18", input_shape=(3, 64, 64), num_classes=10)
    assert (s.input_shape, s.num_classes) == ((3, 64, 64), 10)


def test_cifar_resnet_depths() -> None:
    for name, convs in [("resnet20", 19), ("resnet32", 31), ("resnet44", 43), ("resnet56", 55), ("resnet110", 109)]:
        model = create_model(name)
        assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == convs
    # Parameter counts of the paper's table 6: 0.27 M and 0.46 M.
    assert round(sum(p.numel() for p in create_model("resnet20").parameters()) / 1e6, 2) == 0.27
    assert round(sum(p.numel() for p in create_model("resnet32").parameters()) / 1e6, 2) == 0.46


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(AutoQError, match=r"unknown model 'resnet21'.*resnet20.*file\.py:factory"):
        create_model("resnet21")
    with pytest.raises(AutoQError, match="unknown model 'nope'"):
        model_spec("nope")
    with pytest.raises(AutoQError, match="model file 'missing/model.pt' not found"):
        create_model("missing/model.pt")


def test_bad_arguments() -> None:
    with pytest.raises(AutoQError, match="either --weights or --pretrained"):
        create_model("resnet20", weights="x.th", pretrained=True)
    with pytest.raises(AutoQError, match="three positive integers"):
        create_model("resnet20", input_shape=(3, 32))
    with pytest.raises(AutoQError, match="3-channel"):
        create_model("resnet18", input_shape=(1, 32, 32))
    with pytest.raises(AutoQError, match="no pretrained weights for 'resnet44'"):
        create_model("resnet44", pretrained=True)


def test_digits_cnn_does_not_train_without_being_asked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path))
    create_model("digits-cnn")
    assert not any(tmp_path.rglob("*"))


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache, so that no earlier download is found."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_pretrained_without_network_says_where_to_put_the_file(hub_dir, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    expected = hub_dir / "checkpoints" / "squeezenet1_0-b66bff10.pth"
    with pytest.raises(AutoQError, match=f"no network.*place https://.*squeezenet1_0-b66bff10.pth at {expected}"):
        create_model("squeezenet1_0", pretrained=True)


def test_pretrained_loads_through_torchvision_from_the_hub_cache(hub_dir) -> None:
    # A file placed where the error message says is what torchvision's own loader reads.
    reference = create_model("squeezenet1_0")
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), hub_dir / "checkpoints" / "squeezenet1_0-b66bff10.pth")
    model = create_model("squeezenet1_0", pretrained=True)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(AutoQError, match="num_classes"):
        create_model("squeezenet1_0", pretrained=True, num_classes=10)


def test_inception_has_no_auxiliary_head() -> None:
    plain = create_model("inception_v3")
    assert plain.AuxLogits is None
    plain.train()
    assert isinstance(plain(torch.randn(2, 3, 75, 75)), torch.Tensor)  # no (logits, aux) tuple when training
