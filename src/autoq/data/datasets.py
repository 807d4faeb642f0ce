"""One loader per data set, each with the preprocessing its models expect."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset
from torchvision import transforms as T
from torchvision.datasets import CIFAR10, FashionMNIST, ImageFolder

from autoq.data.bundle import DatasetBundle
from autoq.data.paths import cache_dir, shared_dir
from autoq.errors import AutoQError

Shape = tuple[int, int, int]

# The CIFAR-10 weights in the shared folder were trained with ImageNet's channel statistics.
CIFAR_MEAN, CIFAR_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)  # of the 60000 training images
DIGITS_MEAN, DIGITS_STD = (0.305,), (0.376,)  # of all 1797 images after scaling to [0, 1]
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


def check_shape(name: str, native: Shape, requested: Sequence[int] | None) -> Shape:
    """Data sets of fixed-size images are not resized: a model expecting another shape is an error."""
    if requested is not None and tuple(requested) != native:
        raise AutoQError(
            f"{name} images are {'x'.join(map(str, native))} but the model expects "
            f"{'x'.join(map(str, requested))}; pass --input-shape {','.join(map(str, native))} if the model accepts it"
        )
    return native


def check_classes(name: str, native: int, requested: int | None) -> int:
    if requested is not None and requested != native:
        raise AutoQError(f"{name} has {native} classes but the model has {requested} outputs; pass --num-classes {native}")
    return native


def to_tensor_dataset(images: np.ndarray, labels: np.ndarray, scale: float, mean, std) -> TensorDataset:
    """uint8 NHWC (or NHW) images → float NCHW, scaled to [0, 1] and normalised per channel."""
    x = torch.tensor(images, dtype=torch.float32).div_(scale)  # a copy: IDX buffers are read-only
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    x.sub_(m).div_(s)
    return TensorDataset(x, torch.tensor(labels, dtype=torch.long))


# --- CIFAR-10 --------------------------------------------------------------------------------------


def load_cifar10_subset(data_dir: Path | None, download: bool, input_shape, num_classes) -> DatasetBundle:
    """The shared npz: 4000 training and 1000 test images of CIFAR-10."""
    root = Path(data_dir) if data_dir is not None else (shared_dir() or Path("../shared")) / "data" / "cifar10"
    path = root if root.suffix == ".npz" else root / "cifar10_subset.npz"
    if not path.is_file():
        raise AutoQError(
            f"cifar10-subset not found at {path}; set AUTOQ_SHARED to the shared folder or pass --data-dir "
            "to the folder holding cifar10_subset.npz"
        )
    with np.load(path, allow_pickle=False) as d:
        train = to_tensor_dataset(d["x_train"], d["y_train"], 255.0, CIFAR_MEAN, CIFAR_STD)
        test = to_tensor_dataset(d["x_test"], d["y_test"], 255.0, CIFAR_MEAN, CIFAR_STD)
    return DatasetBundle(
        "cifar10-subset",
        train,
        test,
        check_classes("cifar10-subset", 10, num_classes),
        check_shape("cifar10-subset", (3, 32, 32), input_shape),
        f"CIFAR-10 subset from {path}",
    )


def load_cifar10(data_dir: Path | None, download: bool, input_shape, num_classes) -> DatasetBundle:
    """Full CIFAR-10 (50000 + 10000) in torchvision's folder format (``cifar-10-batches-py``)."""

    root = Path(data_dir) if data_dir is not None else cache_dir() / "data" / "cifar10"
    parts = []
    for train in (True, False):
        try:
            ds = CIFAR10(str(root), train=train, download=download)
        except RuntimeError:
            raise AutoQError(
                f"CIFAR-10 not found in {root}/cifar-10-batches-py; pass --data-dir to the folder holding "
                "cifar-10-batches-py, or download it (163 MB) with download=True / --download"
            ) from None
        except OSError as e:
            raise AutoQError(f"could not download CIFAR-10 into {root} ({type(e).__name__}: no network?)") from None
        parts.append(to_tensor_dataset(ds.data, np.asarray(ds.targets), 255.0, CIFAR_MEAN, CIFAR_STD))
    return DatasetBundle(
        "cifar10",
        parts[0],
        parts[1],
        check_classes("cifar10", 10, num_classes),
        check_shape("cifar10", (3, 32, 32), input_shape),
        f"CIFAR-10 from {root}",
    )


# --- Fashion-MNIST ---------------------------------------------------------------------------------

_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format) of unsigned bytes, plain or gzip-compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise AutoQError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise AutoQError(f"{path} is truncated: expected {int(np.prod(dims))} values of shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fashion_folder(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` or in torchvision's ``folder/FashionMNIST/raw``."""
    for candidate in (folder, folder / "FashionMNIST" / "raw"):
        found = {k: _find_idx(candidate, stem) for k, stem in _FASHION_FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def load_fashion_mnist(data_dir: Path | None, download: bool, input_shape, num_classes) -> DatasetBundle:
    """Fashion-MNIST (60000 + 10000, 1x28x28) from IDX files: torchvision's raw folder or the Debian package."""
    cache_root = cache_dir() / "data" / "fashion-mnist"
    folders = [Path(data_dir)] if data_dir is not None else [cache_root, FASHION_SYSTEM_DIR]
    files = next((f for f in map(_fashion_folder, folders) if f), None)
    if files is None and download:
        root = folders[0]
        try:
            FashionMNIST(str(root), train=True, download=True)
        except (OSError, RuntimeError) as e:
            raise AutoQError(f"could not download Fashion-MNIST into {root} ({type(e).__name__}: no network?)") from None
        files = _fashion_folder(root)
    if files is None:
        where = " or ".join(str(f) for f in folders)
        raise AutoQError(
            f"Fashion-MNIST not found in {where}; install it with `apt-get install dataset-fashion-mnist`, "
            "pass --data-dir to a folder holding its IDX files, or download it with download=True"
        )
    arrays = {k: read_idx(p) for k, p in files.items()}
    train = to_tensor_dataset(arrays["x_train"], arrays["y_train"], 255.0, FASHION_MEAN, FASHION_STD)
    test = to_tensor_dataset(arrays["x_test"], arrays["y_test"], 255.0, FASHION_MEAN, FASHION_STD)
    return DatasetBundle(
        "fashion-mnist",
        train,
        test,
        check_classes("fashion-mnist", 10, num_classes),
        check_shape("fashion-mnist", (1, 28, 28), input_shape),
        f"Fashion-MNIST from {files['x_train'].parent}",
    )


# --- digits ----------------------------------------------------------------------------------------


def digits_split(labels: np.ndarray) -> np.ndarray:
    """Test mask of the digits split: within each class, every fifth image (the 1st, 6th, ...) is test.

    Deterministic without a random generator, stratified, and about 20 % (363 of 1797 images).
    """
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return rank % 5 == 0


def load_digits(data_dir: Path | None, download: bool, input_shape, num_classes) -> DatasetBundle:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, values 0..16): no download."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images, labels = d.images.astype(np.float32), d.target.astype(np.int64)
    test = digits_split(labels)
    train = to_tensor_dataset(images[~test], labels[~test], 16.0, DIGITS_MEAN, DIGITS_STD)
    test_ds = to_tensor_dataset(images[test], labels[test], 16.0, DIGITS_MEAN, DIGITS_STD)
    return DatasetBundle(
        "digits",
        train,
        test_ds,
        check_classes("digits", 10, num_classes),
        check_shape("digits", (1, 8, 8), input_shape),
        f"scikit-learn digits, {len(train)} train / {len(test_ds)} test",
    )


# --- ImageNet --------------------------------------------------------------------------------------


def imagenet_transform(
    crop: int, resize: int | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation: str = "bilinear"
):
    """Resize the short side, centre-crop, scale to [0, 1], normalise: torchvision's evaluation recipe.

    Used for the training split too: calibration and reward images must be deterministic.
    """

    resize = resize or round(crop * 256 / 224)
    return T.Compose(
        [
            T.Resize(resize, interpolation=T.InterpolationMode(interpolation)),
            T.CenterCrop(crop),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def load_imagenet(
    data_dir: Path | None, download: bool, input_shape, num_classes, preprocess: dict | None = None
) -> DatasetBundle:
    """ImageNet in ImageFolder layout: ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``.

    ``input_shape`` sets the crop (default 224); ``preprocess`` (a model spec's) sets resize size,
    interpolation, mean and std exactly as for torchvision's pretrained weights.
    """

    root = Path(data_dir) if data_dir is not None else cache_dir() / "data" / "imagenet"
    missing = [p for p in (root / "train", root / "val") if not p.is_dir()]
    if missing:
        raise AutoQError(
            f"ImageNet not found: {', '.join(map(str, missing))} missing; pass --data-dir to a folder with "
            "train/ and val/ in ImageFolder layout (one subfolder per class; ImageNet is not downloadable)"
        )
    if input_shape is not None and (input_shape[0] != 3 or input_shape[1] != input_shape[2]):
        raise AutoQError(f"imagenet yields square 3-channel crops, not {tuple(input_shape)}")
    pre = preprocess or {}
    crop = int(input_shape[1]) if input_shape is not None else int(pre.get("crop_size", 224))
    resize = pre.get("resize_size") if crop == pre.get("crop_size") else None
    tf = imagenet_transform(
        crop,
        resize,
        tuple(pre.get("mean", IMAGENET_MEAN)),
        tuple(pre.get("std", IMAGENET_STD)),
        pre.get("interpolation", "bilinear"),
    )
    train, test = ImageFolder(str(root / "train"), tf), ImageFolder(str(root / "val"), tf)
    if train.classes != test.classes:
        raise AutoQError(f"{root}/train and {root}/val have different class folders; labels would not match")
    return DatasetBundle(
        "imagenet",
        train,
        test,
        check_classes("imagenet", len(train.classes), num_classes),
        (3, crop, crop),
        f"ImageFolder {root}, {len(train.classes)} classes",
    )
