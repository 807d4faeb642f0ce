"""The data-set registry: ``load_dataset``, ``list_datasets``."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autoq.data import cifar10_jpeg, datasets, synthetic
from autoq.data.bundle import DatasetBundle
from autoq.errors import AutoQError
from autoq.utils.registry import Registry


@dataclass(frozen=True)
class DatasetEntry:
    loader: Callable[..., DatasetBundle]
    description: str


DATASETS: Registry[DatasetEntry] = Registry("data set")
DATASETS.add("imagenet", DatasetEntry(datasets.load_imagenet, "ImageNet, ImageFolder train/ and val/ (resize, centre crop)"))
DATASETS.add("cifar10", DatasetEntry(datasets.load_cifar10, "CIFAR-10, torchvision folder format, 50000/10000"))
DATASETS.add(
    "cifar10-jpeg",
    DatasetEntry(cifar10_jpeg.load_cifar10_jpeg, "CIFAR-10 as JPEG, the shared npz, 45000 train / 5000 holdout / 10000 test"),
)
DATASETS.add("cifar10-subset", DatasetEntry(datasets.load_cifar10_subset, "CIFAR-10, the shared npz, 4000/1000"))
DATASETS.add("fashion-mnist", DatasetEntry(datasets.load_fashion_mnist, "Fashion-MNIST IDX files, 60000/10000"))
DATASETS.add("digits", DatasetEntry(datasets.load_digits, "scikit-learn 8x8 digits, bundled, 1433/364"))
DATASETS.add("synthetic", DatasetEntry(synthetic.load_synthetic, "generated images of any shape, learnable labels"))


def list_datasets(pattern: str | None = None) -> list[str]:
    """Registered data-set names, sorted, optionally filtered by a shell-style ``pattern``."""
    return DATASETS.names(pattern)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    preprocess: dict | None = None,
    **opts,
) -> DatasetBundle:
    """Load ``name`` preprocessed for a model taking ``input_shape`` with ``num_classes`` outputs.

    Both are checked against the data (an error names the mismatch), except for ``synthetic``, which
    takes them as its shape, and ``imagenet``, which crops to ``input_shape`` and follows
    ``preprocess`` (a :class:`~autoq.models.ModelSpec`'s: resize, interpolation, mean, std; other data
    sets have one fixed preprocessing and ignore it). ``download`` is never implied: a missing data set
    is an error that says where it was looked for.
    """
    entry = DATASETS.get(name)
    params = inspect.signature(entry.loader).parameters
    if preprocess is not None and "preprocess" in params:
        opts["preprocess"] = preprocess
    unknown = sorted(set(opts) - set(params))
    if unknown:
        known = [p for p in params if p not in ("data_dir", "download", "input_shape", "num_classes", "preprocess")]
        raise AutoQError(f"data set {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}")
    shape = tuple(int(v) for v in input_shape) if input_shape is not None else None
    return entry.loader(Path(data_dir) if data_dir is not None else None, download, shape, num_classes, **opts)
