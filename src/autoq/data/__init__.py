"""Data sets, their preprocessing, the calibration / reward / train / test splits, and batching."""

from autoq.data.bundle import DatasetBundle
from autoq.data.loader import as_tensors, iterate_batches
from autoq.data.registry import list_datasets, load_dataset
from autoq.data.splits import Splits, make_splits

__all__ = [
    "DatasetBundle",
    "Splits",
    "as_tensors",
    "iterate_batches",
    "list_datasets",
    "load_dataset",
    "make_splits",
]
