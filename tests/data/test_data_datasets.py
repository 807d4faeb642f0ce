"""Each data set loads real data with its models' preprocessing; missing data is a clear error."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from autoq.data import as_tensors, list_datasets, load_dataset
from autoq.data.datasets import FASHION_SYSTEM_DIR, read_idx
from autoq.errors import AutoQError

CIFAR_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
CIFAR_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def test_registered_names() -> None:
    assert list_datasets() == ["cifar10", "cifar10-jpeg", "cifar10-subset", "digits", "fashion-mnist", "imagenet", "synthetic"]
    assert list_datasets("cifar*") == ["cifar10", "cifar10-jpeg", "cifar10-subset"]


def test_unknown_data_set_and_option() -> None:
    with pytest.raises(AutoQError, match="unknown data set 'mnist'; known: cifar10, cifar10-jpeg, cifar10-subset, digits"):
        load_dataset("mnist")
    with pytest.raises(AutoQError, match="data set 'digits' takes no option size"):
        load_dataset("digits", size=3)


def test_digits() -> None:
    ds = load_dataset("digits")
    x, y = ds.train.tensors
    xt, yt = ds.test.tensors
    assert (ds.num_classes, ds.input_shape) == (10, (1, 8, 8))
    assert x.shape == (1433, 1, 8, 8) and xt.shape == (364, 1, 8, 8)
    assert np.bincount(yt.numpy()).min() >= 35  # stratified: every class about a fifth
    allx = torch.cat([x, xt])
    assert abs(allx.mean().item()) < 0.01 and abs(allx.std().item() - 1) < 0.01  # normalised
    assert load_dataset("digits").test.tensors[0].equal(xt)  # deterministic


def test_fixed_shape_and_class_mismatches_are_errors() -> None:
    with pytest.raises(AutoQError, match="digits images are 1x8x8 but the model expects 3x32x32; pass --input-shape 1,8,8"):
        load_dataset("digits", input_shape=(3, 32, 32))
    with pytest.raises(AutoQError, match="digits has 10 classes but the model has 1000 outputs; pass --num-classes 10"):
        load_dataset("digits", num_classes=1000)
    load_dataset("digits", input_shape=(1, 8, 8), num_classes=10)


def test_cifar10_subset(cifar10_npz: Path) -> None:
    ds = load_dataset("cifar10-subset", cifar10_npz.parent)
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.input_shape) == (4000, 1000, 10, (3, 32, 32))
    with np.load(cifar10_npz) as raw:
        image, label = raw["x_test"][7], int(raw["y_test"][7])
        assert np.array_equal(ds.train.tensors[1].numpy(), raw["y_train"])
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - CIFAR_MEAN) / CIFAR_STD
    x, y = ds.test[7]
    assert torch.allclose(x, expected, atol=1e-6) and int(y) == label


def test_cifar10_subset_default_location(cifar10_npz: Path) -> None:
    assert len(load_dataset("cifar10-subset").test) == 1000


def test_missing_data_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AutoQError, match=f"cifar10-subset not found at {tmp_path}/cifar10_subset.npz; set AUTOQ_SHARED"):
        load_dataset("cifar10-subset", tmp_path)
    with pytest.raises(AutoQError, match=f"CIFAR-10 not found in {tmp_path}/cifar-10-batches-py.*--download"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(AutoQError, match="Fashion-MNIST not found in .*apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(AutoQError, match="ImageNet not found: .*train, .*val missing.*ImageFolder layout"):
        load_dataset("imagenet", tmp_path)


@pytest.fixture
def fashion_dir() -> Path:
    if not FASHION_SYSTEM_DIR.is_dir():
        reason = f"{FASHION_SYSTEM_DIR} absent: apt-get install dataset-fashion-mnist"
        if os.environ.get("AUTOQ_REQUIRE_FASHION_MNIST") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return FASHION_SYSTEM_DIR


def test_fashion_mnist_from_the_debian_package(fashion_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path))  # nothing cached: the system folder is found
    ds = load_dataset("fashion-mnist")
    x, y = ds.train.tensors
    xt, yt = ds.test.tensors
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y.numpy()).tolist() == [6000] * 10 and np.bincount(yt.numpy()).tolist() == [1000] * 10
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-3  # the published mean / std


def test_fashion_mnist_in_torchvision_layout_matches_torchvision(fashion_dir: Path, tmp_path: Path) -> None:
    from torchvision.datasets import FashionMNIST

    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in fashion_dir.glob("*.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    ours = load_dataset("fashion-mnist", tmp_path)
    theirs = FashionMNIST(str(tmp_path), train=False)
    assert torch.equal(ours.test.tensors[1], theirs.targets)
    assert np.array_equal(read_idx(raw / "t10k-images-idx3-ubyte"), theirs.data.numpy())
    restored = ours.test.tensors[0][:, 0] * 0.3530 + 0.2860
    assert torch.allclose(restored, theirs.data.float() / 255, atol=1e-5)


def test_imagenet_folder_layout(tmp_path: Path) -> None:
    from PIL import Image

    colours = {"n01": (255, 0, 128), "n02": (0, 64, 255)}
    for part in ("train", "val"):
        for cls, colour in colours.items():
            (tmp_path / part / cls).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (50 + i * 10, 40), colour).save(tmp_path / part / cls / f"{i}.png")
    ds = load_dataset("imagenet", tmp_path, input_shape=(3, 32, 32), num_classes=2)
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.input_shape) == (4, 4, 2, (3, 32, 32))
    x, y = ds.test[3]
    expected = (torch.tensor((0, 64, 255)).float().view(3, 1, 1) / 255 - CIFAR_MEAN) / CIFAR_STD
    assert x.shape == (3, 32, 32) and y == 1
    assert torch.allclose(x, expected.expand(3, 32, 32), atol=1e-5)
    with pytest.raises(AutoQError, match="2 classes but the model has 1000 outputs"):
        load_dataset("imagenet", tmp_path, input_shape=(3, 32, 32), num_classes=1000)
    shutil.rmtree(tmp_path / "val" / "n02")
    with pytest.raises(AutoQError, match="different class folders"):
        load_dataset("imagenet", tmp_path)


def test_synthetic_is_deterministic_and_learnable() -> None:
    ds = load_dataset("synthetic", input_shape=(3, 16, 16), num_classes=10, size=200, test_size=50, seed=3)
    assert (len(ds.train), len(ds.test), ds.input_shape, ds.num_classes) == (200, 50, (3, 16, 16), 10)
    x, y = as_tensors(ds.train)
    x2, y2 = as_tensors(load_dataset("synthetic", input_shape=(3, 16, 16), num_classes=10, size=200, seed=3).train)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = as_tensors(load_dataset("synthetic", input_shape=(3, 16, 16), num_classes=10, size=200, seed=4).train)
    assert not torch.equal(x, x3)
    assert not torch.equal(as_tensors(ds.test)[0], x[:50])  # test images differ from training images
    assert len(set(y.tolist())) == 10
    # Labels are learnable: nearest class mean (estimated on train) classifies the test images.
    means = torch.stack([x[y == c].mean(0) for c in range(10)]).flatten(1)
    xt, yt = as_tensors(ds.test)
    predicted = torch.cdist(xt.flatten(1), means).argmin(1)
    assert (predicted == yt).float().mean() > 0.9


def test_synthetic_defaults_to_imagenet_shape() -> None:
    ds = load_dataset("synthetic")
    x, y = ds.train[0]
    assert x.shape == (3, 224, 224) and 0 <= y < 1000 and len(ds.train) >= 256 + 1000


@pytest.mark.parametrize("model", ["resnet50", "inception_v3", "efficientnet_b0"])
def test_imagenet_follows_torchvision_weights_preprocessing(tmp_path: Path, model: str) -> None:
    import torchvision
    from PIL import Image

    from autoq.models import model_spec

    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        (tmp_path / part / "n01").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)).save(tmp_path / part / "n01" / "a.png")
    spec = model_spec(model)
    ds = load_dataset("imagenet", tmp_path, input_shape=spec.input_shape, preprocess=spec.preprocess)
    reference = torchvision.models.get_model_weights(model).DEFAULT.transforms()
    expected = reference(Image.open(tmp_path / "val" / "n01" / "a.png").convert("RGB"))
    assert torch.allclose(ds.test[0][0], expected, atol=1e-5)
