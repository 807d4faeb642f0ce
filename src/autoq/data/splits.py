"""Calibration, reward, training and test splits: disjoint, deterministic by seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset, Subset

from autoq.data.bundle import DatasetBundle
from autoq.errors import AutoQError


@dataclass
class Splits:
    """``calib`` (activation ranges), ``reward`` (search accuracy, finetuning's model selection),
    ``train`` (finetuning) and ``test`` (reporting only).

    Without a held-out part, ``calib``, ``reward`` and ``train`` partition the data set's training
    part. With one (``cifar10-jpeg``), ``reward`` is a class-balanced subset of ``holdout``,
    ``calib`` a subset of ``train`` and ``train`` all of it: the model was trained on those images
    anyway, and the reward then measures generalisation instead of memory.
    """

    calib: Dataset
    reward: Dataset
    train: Dataset
    test: Dataset
    holdout: Dataset | None = None


def split_indices(n: int, calib_size: int, reward_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of calib, reward and train: consecutive runs of one seeded permutation of ``range(n)``."""
    if calib_size < 0 or reward_size < 0:
        raise AutoQError(f"split sizes must not be negative (calibration {calib_size}, reward {reward_size})")
    if calib_size + reward_size > n:
        raise AutoQError(
            f"calibration ({calib_size}) + reward ({reward_size}) images exceed the {n} training images; "
            f"lower --calib-size / --reward-size (together at most {n})"
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[:calib_size], order[calib_size : calib_size + reward_size], order[calib_size + reward_size :]


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` indices with the classes as equal as ``size`` allows, seeded, in a seeded order.

    Each class contributes ``size // classes`` images (the first ``size % classes`` classes of a
    seeded class order one more), drawn by one seeded permutation, so that a smaller subset of the
    same seed is nested in a larger one class by class.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if not 0 < size <= len(labels):
        raise AutoQError(f"a subset of {size} images does not fit in {len(labels)}; choose 1..{len(labels)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    extra = set(rng.permutation(classes)[: size % len(classes)].tolist())
    picked = []
    for c in classes:
        want = size // len(classes) + (c in extra)
        members = order[labels[order] == c]
        if len(members) < want:
            raise AutoQError(f"class {c} has {len(members)} images, fewer than the {want} a balanced subset of {size} needs")
        picked.append(members[:want])
    return rng.permutation(np.concatenate(picked))


def labels_of(dataset: Dataset) -> np.ndarray:
    """The labels of an in-memory data set (a ``TensorDataset``), without touching its images."""
    tensors = getattr(dataset, "tensors", None)
    if tensors is None:
        raise AutoQError("class-balanced subsets need an in-memory data set")
    return tensors[1].numpy()


def make_splits(ds: DatasetBundle, calib_size: int = 256, reward_size: int = 1000, seed: int = 0) -> Splits:
    """The seeded splits of ``ds`` (each a ``Subset``); test is ``ds.test``."""
    if ds.holdout is not None:
        return _holdout_splits(ds, calib_size, reward_size, seed)
    calib, reward, train = split_indices(len(ds.train), calib_size, reward_size, seed)  # type: ignore[arg-type]
    sub = lambda idx: Subset(ds.train, idx.tolist())  # noqa: E731
    return Splits(sub(calib), sub(reward), sub(train), ds.test)


def _holdout_splits(ds: DatasetBundle, calib_size: int, reward_size: int, seed: int) -> Splits:
    n_hold, n_train = len(ds.holdout), len(ds.train)  # type: ignore[arg-type]
    if not 1 <= reward_size <= n_hold:
        raise AutoQError(f"--reward-size {reward_size} does not fit the {n_hold} holdout images of {ds.name}; choose 1..{n_hold}")
    if not 1 <= calib_size <= n_train:
        raise AutoQError(
            f"--calib-size {calib_size} does not fit the {n_train} training images of {ds.name}; choose 1..{n_train}"
        )
    reward = balanced_subset(labels_of(ds.holdout), reward_size, seed)
    calib = np.random.default_rng([seed, 1]).permutation(n_train)[:calib_size]
    return Splits(
        Subset(ds.train, calib.tolist()),
        Subset(ds.holdout, reward.tolist()),
        ds.train,
        ds.test,
        ds.holdout,
    )
