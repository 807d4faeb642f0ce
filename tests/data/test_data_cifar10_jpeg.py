"""The JPEG CIFAR-10 set: the shared split, its preprocessing, the decode cache, the holdout reward split."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from autoq.data import make_splits
from autoq.data.cifar10_jpeg import decode_jpegs, decoded, file_digest, load_cifar10_jpeg
from autoq.data.splits import balanced_subset
from autoq.errors import AutoQError

CIFAR_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
CIFAR_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def test_the_shared_split_and_preprocessing(cifar10_jpeg, jpeg_npz):
    ds = cifar10_jpeg
    assert (len(ds.train), len(ds.holdout), len(ds.test)) == (45000, 5000, 10000)
    assert (ds.num_classes, ds.input_shape) == (10, (3, 32, 32))
    for part, per_class in ((ds.train, 4500), (ds.holdout, 500), (ds.test, 1000)):
        assert np.bincount(part.tensors[1].numpy()).tolist() == [per_class] * 10
    with np.load(jpeg_npz) as raw:  # holdout image 0: the first training image whose index in its class is 4500
        i = int(np.flatnonzero(raw["train_class_index"] >= 4500)[0])
        a, b = raw["train_offsets"][i], raw["train_offsets"][i + 1]
        image = np.asarray(Image.open(io.BytesIO(raw["train_jpeg"][a:b].tobytes())).convert("RGB"))
        label = int(raw["train_labels"][i])
    expected = (torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255 - CIFAR_MEAN) / CIFAR_STD
    assert torch.allclose(ds.holdout.tensors[0][0], expected, atol=1e-6) and int(ds.holdout.tensors[1][0]) == label


def test_decoded_arrays_are_cached_by_the_files_digest(tmp_path, monkeypatch):
    images = [np.full((32, 32, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    blobs = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")  # lossless, so the decoded pixels are known exactly
        blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    blob = np.concatenate(blobs)
    assert np.array_equal(decode_jpegs(blob, offsets), np.stack(images))
    npz = tmp_path / "cifar10_jpeg.npz"
    np.savez(
        npz,
        train_jpeg=blob,
        train_offsets=offsets,
        train_labels=np.array([0, 1, 1], np.uint8),
        train_class_index=np.array([0, 4500, 0], np.int16),
        test_jpeg=blob,
        test_offsets=offsets,
        test_labels=np.array([2, 2, 2], np.uint8),
    )
    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path / "cache"))
    digest = file_digest(npz)
    first = decoded(npz, digest)
    cached = list((tmp_path / "cache" / "data" / "cifar10-jpeg").glob("decoded-*.npz"))
    assert [c.name for c in cached] == [f"decoded-{digest[:16]}.npz"]
    decoded.cache_clear()
    with np.load(cached[0]) as again:
        assert all(np.array_equal(again[k], first[k]) for k in first)
    bundle = load_cifar10_jpeg(npz, False, None, None)
    assert (len(bundle.train), len(bundle.holdout), len(bundle.test)) == (2, 1, 3)


def test_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(AutoQError, match="cifar10-jpeg not found at .*; set AUTOQ_SHARED"):
        load_cifar10_jpeg(tmp_path, False, None, None)
    np.savez(tmp_path / "cifar10_jpeg.npz", x=np.zeros(3))
    with pytest.raises(AutoQError, match="is not the JPEG CIFAR-10 file: it lacks train_jpeg"):
        load_cifar10_jpeg(tmp_path, False, None, None)


def test_balanced_subsets_are_seeded_balanced_and_nested():
    labels = np.repeat(np.arange(10), 500)
    small, large = balanced_subset(labels, 250, seed=3), balanced_subset(labels, 1000, seed=3)
    assert np.bincount(labels[large]).tolist() == [100] * 10
    assert sorted(np.bincount(labels[small]).tolist()) == [25] * 10
    assert set(small) <= set(large) and len(set(large)) == 1000
    assert np.array_equal(balanced_subset(labels, 250, seed=3), small)
    assert not np.array_equal(np.sort(balanced_subset(labels, 250, seed=4)), np.sort(small))
    odd = balanced_subset(labels, 255, seed=0)
    assert sorted(np.bincount(labels[odd]).tolist()) == [25] * 5 + [26] * 5


def test_search_splits_take_the_reward_from_holdout(cifar10_jpeg):
    s = make_splits(cifar10_jpeg, calib_size=128, reward_size=500, seed=1)
    assert s.reward.dataset is cifar10_jpeg.holdout and s.calib.dataset is cifar10_jpeg.train
    assert s.train is cifar10_jpeg.train and s.test is cifar10_jpeg.test and s.holdout is cifar10_jpeg.holdout
    assert (len(s.calib), len(s.reward)) == (128, 500)
    assert np.bincount(cifar10_jpeg.holdout.tensors[1][s.reward.indices].numpy()).tolist() == [50] * 10
    with pytest.raises(AutoQError, match="--reward-size 6000 does not fit the 5000 holdout images of cifar10-jpeg"):
        make_splits(cifar10_jpeg, reward_size=6000)
