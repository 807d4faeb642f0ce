"""Batching: tensor fast path, DataLoader path, and disjoint shards for distributed runs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import Dataset, Subset, TensorDataset

from autoq.data import iterate_batches


def _tensor_ds(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n).float().view(-1, 1), torch.arange(n))


class _ItemDataset(Dataset):
    """Not a TensorDataset: forces the DataLoader path."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return torch.tensor([float(i)]), i


def _labels(dataset, batch_size: int, **kw) -> list[int]:
    return [int(v) for _, y in iterate_batches(dataset, batch_size, **kw) for v in y]


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(0, 120),
    world=st.integers(1, 7),
    batch=st.integers(1, 16),
    shuffle=st.booleans(),
    seed=st.integers(0, 1000),
    epoch=st.integers(0, 5),
)
def test_shards_partition_the_data_exactly(n, world, batch, shuffle, seed, epoch) -> None:
    ds = _tensor_ds(n)
    shards = [_labels(ds, batch, shuffle=shuffle, seed=seed, epoch=epoch, rank=r, world_size=world) for r in range(world)]
    flat = [v for s in shards for v in s]
    assert sorted(flat) == list(range(n))  # every image once: no padding, no repeats
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # The order before sharding is the same on every rank: concatenated shards give the single-process order.
    assert flat == _labels(ds, batch, shuffle=shuffle, seed=seed, epoch=epoch)


def test_shuffle_is_seeded_by_seed_and_epoch() -> None:
    ds = _tensor_ds(50)
    a = _labels(ds, 8, shuffle=True, seed=3, epoch=1)
    assert a == _labels(ds, 8, shuffle=True, seed=3, epoch=1)
    assert a != _labels(ds, 8, shuffle=True, seed=3, epoch=2)
    assert a != _labels(ds, 8, shuffle=True, seed=4, epoch=1)
    assert _labels(ds, 8) == list(range(50))


@pytest.mark.parametrize("shuffle", [False, True])
def test_fast_path_matches_dataloader_path(shuffle: bool) -> None:
    idx = list(range(3, 40, 2))
    fast = Subset(Subset(_tensor_ds(60), list(range(60))[::-1]), idx)
    slow = Subset(Subset(_ItemDataset(60), list(range(60))[::-1]), idx)
    kw = dict(shuffle=shuffle, seed=5, rank=1, world_size=2)
    got_fast = list(iterate_batches(fast, 4, **kw))
    got_slow = list(iterate_batches(slow, 4, **kw))
    assert len(got_fast) == len(got_slow)
    for (xf, yf), (xs, ys) in zip(got_fast, got_slow):
        assert torch.equal(xf, xs) and torch.equal(yf, ys)


def test_drop_last() -> None:
    assert [len(y) for _, y in iterate_batches(_tensor_ds(10), 4, drop_last=True)] == [4, 4]
    assert [len(y) for _, y in iterate_batches(_ItemDataset(10), 4, drop_last=True)] == [4, 4]
    assert [len(y) for _, y in iterate_batches(_tensor_ds(10), 4)] == [4, 4, 2]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(iterate_batches(_tensor_ds(4), 0))
    with pytest.raises(ValueError):
        list(iterate_batches(_tensor_ds(4), 2, rank=2, world_size=2))
