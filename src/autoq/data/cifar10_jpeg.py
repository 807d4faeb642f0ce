"""All 60,000 CIFAR-10 images as JPEG, with a fixed train / holdout / test split.

The shared file stores every image's JPEG bytes back to back (``*_jpeg`` with ``*_offsets``), class by
class. Of the 50,000 training images, the first 4,500 of each class (``train_class_index < 4500``)
are ``train``: the shared models were trained on them. The other 500 per class are ``holdout``: no
model saw them, so the search's reward measures generalisation there. The 10,000 ``test`` images are
for reporting only.

Decoding all images with Pillow takes several seconds, so the decoded uint8 arrays are cached under
the cache folder, keyed by the file's SHA-256: only the first use pays for it, and a changed file is
decoded again.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from autoq.data.bundle import DatasetBundle
from autoq.data.datasets import CIFAR_MEAN, CIFAR_STD, check_classes, check_shape, to_tensor_dataset
from autoq.data.paths import cache_dir, shared_dir
from autoq.errors import AutoQError
from autoq.utils.io import atomic_write_bytes

FILE_NAME = "cifar10_jpeg.npz"
TRAIN_PER_CLASS = 4500  # train_class_index below this is `train`, the rest `holdout`
_KEYS = ("train_jpeg", "train_offsets", "train_labels", "train_class_index", "test_jpeg", "test_offsets", "test_labels")


def locate(data_dir: Path | None) -> Path:
    """The npz file: ``data_dir`` (the file or its folder), else the shared folder's copy."""
    root = Path(data_dir) if data_dir is not None else (shared_dir() or Path("../shared")) / "data" / "cifar10-jpeg"
    path = root if root.suffix == ".npz" else root / FILE_NAME
    if not path.is_file():
        raise AutoQError(
            f"cifar10-jpeg not found at {path}; set AUTOQ_SHARED to the shared folder or pass --data-dir "
            f"to the folder holding {FILE_NAME}"
        )
    return path


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode_jpegs(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB images from JPEG files stored back to back (``blob[offsets[i]:offsets[i+1]]``)."""

    n = len(offsets) - 1
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        with Image.open(io.BytesIO(blob[offsets[i] : offsets[i + 1]].tobytes())) as im:
            arr = np.asarray(im.convert("RGB"))
        if arr.shape != (32, 32, 3):
            raise AutoQError(f"image {i} of the JPEG file decodes to shape {arr.shape}, not 32x32x3")
        out[i] = arr
    return out


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as d:
            missing = [k for k in _KEYS if k not in d.files]
            if missing:
                raise AutoQError(f"{path} is not the JPEG CIFAR-10 file: it lacks {', '.join(missing)}")
            return {k: d[k] for k in _KEYS}
    except (OSError, ValueError) as e:
        raise AutoQError(f"{path} could not be read as an npz file ({e})") from None


def _decode_all(path: Path) -> dict[str, np.ndarray]:
    raw = _read(path)
    return {
        "x_train": decode_jpegs(raw["train_jpeg"], raw["train_offsets"]),
        "y_train": raw["train_labels"].astype(np.int64),
        "class_index": raw["train_class_index"].astype(np.int64),
        "x_test": decode_jpegs(raw["test_jpeg"], raw["test_offsets"]),
        "y_test": raw["test_labels"].astype(np.int64),
    }


@lru_cache(maxsize=2)
def decoded(path: Path, digest: str) -> dict[str, np.ndarray]:
    """The decoded arrays of ``path``, from the cache when a file of the same digest was decoded before."""

    cached = cache_dir() / "data" / "cifar10-jpeg" / f"decoded-{digest[:16]}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as d:
                return {k: d[k] for k in d.files}
        except (OSError, ValueError):
            pass  # a damaged cache entry is decoded again and overwritten
    arrays = _decode_all(path)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        atomic_write_bytes(cached, buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the decoding time next time
    return arrays


def load_cifar10_jpeg(data_dir: Path | None, download: bool, input_shape, num_classes) -> DatasetBundle:
    """JPEG CIFAR-10: ``train`` 45,000, ``holdout`` 5,000, ``test`` 10,000 (the shared split)."""
    path = locate(data_dir)
    d = decoded(path.resolve(), file_digest(path))
    tr = d["class_index"] < TRAIN_PER_CLASS
    make = lambda x, y: to_tensor_dataset(x, y, 255.0, CIFAR_MEAN, CIFAR_STD)  # noqa: E731
    return DatasetBundle(
        "cifar10-jpeg",
        make(d["x_train"][tr], d["y_train"][tr]),
        make(d["x_test"], d["y_test"]),
        check_classes("cifar10-jpeg", 10, num_classes),
        check_shape("cifar10-jpeg", (3, 32, 32), input_shape),
        f"CIFAR-10 JPEG from {path}: train {int(tr.sum())} / holdout {int((~tr).sum())} / test {len(d['y_test'])}",
        holdout=make(d["x_train"][~tr], d["y_train"][~tr]),
    )
