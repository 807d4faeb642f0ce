"""Run a block of small tensor work on one thread."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Use one intra-op thread inside the block, then restore the previous count.

    The agents' networks are small (batches of 64, 300 units): several threads gain nothing, and when
    the cores are busy (other processes, data loading, ranks of a distributed run) their spin-waiting
    makes an update up to a hundred times slower.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
