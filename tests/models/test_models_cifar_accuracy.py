"""The shared CIFAR-10 ResNets reach their measured float accuracy on the 1000 shared test images."""

from __future__ import annotations

import pytest
import torch

from autoq.data import iterate_batches, load_dataset
from autoq.models import create_model


def top1(model: torch.nn.Module, dataset) -> tuple[int, int]:
    correct = total = 0
    with torch.no_grad():
        for x, y in iterate_batches(dataset, 250):
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct, total


@pytest.mark.parametrize("name,fixture,expected", [("resnet20", "resnet20_weights", 915), ("resnet32", "resnet32_weights", 928)])
def test_cifar_resnet_float_accuracy(name: str, fixture: str, expected: int, cifar10_npz, request) -> None:
    weights = request.getfixturevalue(fixture)
    data = load_dataset("cifar10-subset", cifar10_npz.parent)
    correct, total = top1(create_model(name, weights=weights), data.test)
    assert total == 1000
    assert correct == pytest.approx(expected, abs=1)  # 91.5 % / 92.8 % +- 0.1


def test_pretrained_flag_reads_the_shared_weights(resnet20_weights) -> None:
    a = create_model("resnet20", weights=resnet20_weights)
    b = create_model("resnet20", pretrained=True)
    for key, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[key], value), key


def test_shared_weights_do_not_fit_another_depth(resnet20_weights) -> None:
    from autoq.errors import AutoQError

    with pytest.raises(AutoQError, match=r"missing keys: layer1\.3\.conv1\.weight"):
        create_model("resnet32", weights=resnet20_weights)
