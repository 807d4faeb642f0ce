"""The four networks trained on JPEG CIFAR-10: they build, load the shared weights, reach their float
accuracy, and the search's inference graph computes what the fake-quantized model computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from autoq.data import iterate_batches
from autoq.errors import AutoQError
from autoq.models import create_model, list_models, model_spec
from autoq.quant import Policy, apply_policy, calibrate, discover_layers
from autoq.quant.fusion import FusedConvBN, fuse_for_inference

# name, shared file, quantizable layers, fused conv-BN chains; correct of 500 images
# (every 20th test image, every 10th holdout image: all classes), measured in float32
MODELS = [
    ("resnet20", "resnet20", 20, 19, 429, 446),
    ("resnet18-cifar", "resnet18", 21, 20, 434, 454),
    ("mobilenet_v2-cifar", "mobilenet_v2", 53, 52, 436, 447),
    ("squeezenet1_0-cifar", "squeezenet1_0", 26, 0, 410, 408),
]


def _model(name: str, file: str, jpeg_weights) -> torch.nn.Module:
    weights = jpeg_weights(file)  # skips without the shared folder
    return create_model(name, weights=weights) if name == "resnet20" else create_model(name, pretrained=True)


def _correct(model: torch.nn.Module, dataset) -> int:
    step = len(dataset) // 500
    with torch.no_grad():
        return sum(
            int((model(x).argmax(1) == y).sum())
            for x, y in iterate_batches(Subset(dataset, list(range(0, len(dataset), step))), 250)
        )


def test_registered_with_the_jpeg_set_as_default():
    assert {"resnet18-cifar", "mobilenet_v2-cifar", "squeezenet1_0-cifar"} <= set(list_models("*-cifar"))
    spec = model_spec("mobilenet_v2-cifar")
    assert (spec.input_shape, spec.num_classes, spec.default_dataset) == ((3, 32, 32), 10, "cifar10-jpeg")


@pytest.mark.parametrize("name,file,layers,chains,test,holdout", MODELS)
def test_float_accuracy_on_slices(name, file, layers, chains, test, holdout, cifar10_jpeg, jpeg_weights):
    model = _model(name, file, jpeg_weights)
    assert _correct(model, cifar10_jpeg.test) == pytest.approx(test, abs=1)
    assert _correct(model, cifar10_jpeg.holdout) == pytest.approx(holdout, abs=1)


@pytest.mark.parametrize("name,file,layers,chains,test,holdout", MODELS)
def test_inference_graph_agrees_with_the_fake_quantized_model(
    name, file, layers, chains, test, holdout, cifar10_jpeg, jpeg_weights
):
    net = _model(name, file, jpeg_weights)
    found = discover_layers(net, torch.zeros(1, 3, 32, 32)).layers
    assert len(found) == layers
    rng = np.random.default_rng(0)
    policy = Policy({l.name: rng.integers(3, 9, l.c_out) for l in found}, {l.name: int(rng.integers(4, 9)) for l in found})
    q = apply_policy(net, policy)
    calibrate(q, [cifar10_jpeg.train.tensors[0][:64]])
    q.eval()
    fused = fuse_for_inference(q)
    assert sum(isinstance(m, FusedConvBN) for m in fused.modules()) == chains
    x = cifar10_jpeg.holdout.tensors[0][::50]
    with torch.no_grad():
        a, b = fused(x), q(x)
    assert torch.equal(a.argmax(1), b.argmax(1))
    assert torch.allclose(a, b, rtol=0, atol=0.05 * float(b.abs().max()))  # 8-bit rounding steps moved by float rounding


def test_pretrained_needs_ten_classes_and_three_channels():
    with pytest.raises(AutoQError, match="the pretrained mobilenet_v2-cifar has 10 classes"):
        create_model("mobilenet_v2-cifar", pretrained=True, num_classes=100)
    with pytest.raises(AutoQError, match="resnet18-cifar takes 3-channel images"):
        create_model("resnet18-cifar", input_shape=(1, 32, 32))
