"""Layer discovery on the paper's ImageNet models, with random weights."""

from __future__ import annotations

import pytest

from autoq.models import create_model, example_input, model_spec
from autoq.quant import discover_layers

# name: (layers, conv layers, depthwise conv layers)
EXPECTED = {
    "resnet18": (21, 20, 0),
    "resnet50": (54, 53, 0),
    "squeezenet1_0": (26, 26, 0),
    "mobilenet_v2": (53, 52, 17),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_discovery_counts_layers_and_macs(name: str) -> None:
    spec = model_spec(name)
    disc = discover_layers(create_model(name), example_input(spec))
    layers, convs, depthwise = EXPECTED[name]
    assert len(disc.layers) == layers
    assert sum(layer.kind == "conv" for layer in disc.layers) == convs
    assert sum(layer.depthwise for layer in disc.layers) == depthwise
    assert not disc.reused and not disc.unreached
    # torchvision publishes each model's multiply-accumulates at 224x224 (GFLOPS in its tables).
    assert sum(layer.macs for layer in disc.layers) / 1e9 == pytest.approx(spec.preprocess["gmacs"], abs=1e-3)


def test_mobilenet_v2_depthwise_layers_are_3x3_per_channel() -> None:
    disc = discover_layers(create_model("mobilenet_v2"), example_input((3, 64, 64)))
    dw = [layer for layer in disc.layers if layer.depthwise]
    assert all(layer.kernel_size == (3, 3) and layer.groups == layer.c_in == layer.c_out for layer in dw)
    assert dw[0].name == "features.1.conv.0.0"


@pytest.mark.parametrize("name,layers", [("resnet20", 20), ("resnet32", 32), ("digits-cnn", 4)])
def test_discovery_on_small_models(name: str, layers: int) -> None:
    spec = model_spec(name)
    disc = discover_layers(create_model(name), example_input(spec))
    assert len(disc.layers) == layers
    assert disc.layers[-1].kind == "linear" and disc.layers[-1].c_out == 10
