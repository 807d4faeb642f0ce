"""Calibration, reward, training and test splits: disjoint, deterministic by seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset, Subset

from autoq.data.bundle import DatasetBundle
from autoq.errors import AutoQError


@dataclass
class Splits:
    """``calib`` (activation ranges), ``reward`` (search accuracy) and ``train`` (finetuning) partition
    the data set's training part; ``test`` is its test part, used only for reporting."""

    calib: Dataset
    reward: Dataset
    train: Dataset
    test: Dataset


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


def make_splits(ds: DatasetBundle, calib_size: int = 256, reward_size: int = 1000, seed: int = 0) -> Splits:
    """Split ``ds.train`` into calibration, reward and finetuning sets (each a ``Subset``); test is ``ds.test``."""
    calib, reward, train = split_indices(len(ds.train), calib_size, reward_size, seed)  # type: ignore[arg-type]
    sub = lambda idx: Subset(ds.train, idx.tolist())  # noqa: E731
    return Splits(sub(calib), sub(reward), sub(train), ds.test)
