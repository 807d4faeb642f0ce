"""Batches for evaluation and training: a fast path for in-memory tensors, a DataLoader otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset


def tensor_view(dataset: Dataset) -> tuple[tuple[Tensor, ...], np.ndarray | None] | None:
    """``(tensors, row indices or None)`` when ``dataset`` is a ``TensorDataset`` or a chain of
    ``Subset``s of one; ``None`` otherwise."""
    indices = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        indices = idx if indices is None else idx[indices]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset):
        return dataset.tensors, indices
    return None


def as_tensors(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """All images and labels of ``dataset`` as two tensors (in-memory data sets: without a per-item loop)."""
    view = tensor_view(dataset)
    if view is not None:
        tensors, idx = view
        return tuple(t if idx is None else t[torch.from_numpy(idx)] for t in tensors[:2])  # type: ignore[return-value]
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))  # type: ignore[arg-type]
    return torch.stack(xs), torch.as_tensor(ys)


#: a split up to this size (as float32 tensors) is held in memory for the whole run instead of re-read
MAX_CACHED_BYTES = 2 * 1024**3


def fits_in_memory(dataset: Dataset) -> bool:
    """Whether ``dataset`` is non-empty and its images, as float32 tensors, fit :data:`MAX_CACHED_BYTES`."""
    if len(dataset) == 0:  # type: ignore[arg-type]
        return False
    x, _ = dataset[0]
    return len(dataset) * x.numel() * 4.0 <= MAX_CACHED_BYTES  # type: ignore[arg-type]


def shard_order(n: int, shuffle: bool, seed: int, epoch: int, rank: int, world_size: int) -> np.ndarray:
    """The positions this rank visits: one order for all ranks (seeded by ``(seed, epoch)``), cut into
    ``world_size`` contiguous shards whose sizes differ by at most one; no padding, no repeats."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return np.array_split(order, world_size)[rank]


def iterate_batches(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
    num_workers: int = 0,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(images, labels)`` batches of this rank's shard.

    Shards of different ranks may differ by one image, so ranks may run different numbers of
    batches: all-reduce counts after the loop, not per batch. Summed over ranks, every image is
    seen exactly once (without ``drop_last``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    positions = shard_order(len(dataset), shuffle, seed, epoch, rank, world_size)  # type: ignore[arg-type]
    view = tensor_view(dataset)
    if view is not None:
        tensors, base = view
        rows = positions if base is None else base[positions]
        stop = len(rows) - len(rows) % batch_size if drop_last else len(rows)
        for start in range(0, stop, batch_size):
            idx = torch.from_numpy(rows[start : start + batch_size])
            yield tensors[0][idx], tensors[1][idx]
        return
    loader = DataLoader(
        Subset(dataset, positions.tolist()),
        batch_size=batch_size,
        shuffle=False,
        drop_last=drop_last,
        num_workers=num_workers,
        persistent_workers=False,
    )
    for x, y in loader:
        yield x, torch.as_tensor(y)
