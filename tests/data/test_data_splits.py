"""Calibration, reward, train and test splits: disjoint, deterministic by seed, sized as asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from autoq.data import DatasetBundle, as_tensors, load_dataset, make_splits
from autoq.data.splits import split_indices
from autoq.errors import AutoQError


def _bundle(n_train: int = 100, n_test: int = 20) -> DatasetBundle:
    # Each image holds its own index, so a split's content identifies its rows.
    train = TensorDataset(torch.arange(n_train).float().view(-1, 1, 1, 1), torch.arange(n_train) % 3)
    test = TensorDataset(-1 - torch.arange(n_test).float().view(-1, 1, 1, 1), torch.arange(n_test) % 3)
    return DatasetBundle("toy", train, test, 3, (1, 1, 1))


def _ids(dataset) -> set[int]:
    x, _ = as_tensors(dataset)
    return {int(v) for v in x.flatten()}


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), calib=st.integers(0, 300), reward=st.integers(0, 300), seed=st.integers(0, 2**32))
def test_splits_are_disjoint_and_cover_the_training_part(n: int, calib: int, reward: int, seed: int) -> None:
    if calib + reward > n:
        with pytest.raises(AutoQError, match=f"together at most {n}"):
            split_indices(n, calib, reward, seed)
        return
    c, r, t = split_indices(n, calib, reward, seed)
    assert (len(c), len(r), len(t)) == (calib, reward, n - calib - reward)
    assert not set(c) & set(r) and not set(c) & set(t) and not set(r) & set(t)
    assert sorted(np.concatenate([c, r, t]).tolist()) == list(range(n))
    again = split_indices(n, calib, reward, seed)
    assert all(np.array_equal(a, b) for a, b in zip((c, r, t), again))


def test_make_splits_uses_rows_of_the_training_part_only() -> None:
    splits = make_splits(_bundle(), calib_size=10, reward_size=30, seed=1)
    calib, reward, train, test = map(_ids, (splits.calib, splits.reward, splits.train, splits.test))
    assert (len(calib), len(reward), len(train), len(test)) == (10, 30, 60, 20)
    assert not calib & reward and not calib & train and not reward & train
    assert calib | reward | train == set(range(100))
    assert all(v < 0 for v in test)  # test images are never in calib / reward / train


def test_seed_changes_the_assignment_and_fixes_it() -> None:
    a, b, c = (make_splits(_bundle(), 10, 30, seed) for seed in (0, 0, 1))
    assert _ids(a.reward) == _ids(b.reward)
    assert _ids(a.reward) != _ids(c.reward)


def test_too_large_splits_name_the_maximum() -> None:
    with pytest.raises(AutoQError, match=r"calibration \(256\) \+ reward \(1000\) images exceed the 100 training images"):
        make_splits(_bundle(), 256, 1000)
    with pytest.raises(AutoQError, match="must not be negative"):
        make_splits(_bundle(), -1, 10)


def test_real_digits_splits() -> None:
    data = load_dataset("digits")
    splits = make_splits(data, calib_size=256, reward_size=500, seed=0)
    assert (len(splits.calib), len(splits.reward), len(splits.train), len(splits.test)) == (256, 500, 677, 364)
    parts = [set(splits.calib.indices), set(splits.reward.indices), set(splits.train.indices)]
    assert sum(map(len, parts)) == len(set().union(*parts)) == len(data.train)
    assert splits.test is data.test
