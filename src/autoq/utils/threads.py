"""Run a block of small tensor work on one thread, and independent pieces of it on the cores it left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")

_spare = 0  # intra-op threads that the innermost one_thread() block set aside
_helper: ThreadPoolExecutor | None = None


@contextmanager
def one_thread() -> Iterator[None]:
    """Use one intra-op thread inside the block, then restore the previous count.

    The agents' networks are small (batches of 64, 300 units): several threads gain nothing, and when
    the cores are busy (other processes, data loading, ranks of a distributed run) their spin-waiting
    makes an update up to a hundred times slower. The threads set aside stay usable by
    :func:`side_by_side`.
    """
    global _spare
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    _spare, outer = before - 1, _spare
    try:
        yield
    finally:
        _spare = outer
        torch.set_num_threads(before)


def side_by_side(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """``(first(), second())``, the two run at once when a :func:`one_thread` block set a core aside.

    The two must not share mutable state. The helper thread runs one intra-op thread (as many
    OpenMP threads as cores would spin-wait after each of its parallel regions and slow the work
    that follows) and the caller's gradient mode.
    """
    global _helper
    if _spare < 1:
        return first(), second()
    if _helper is None:
        _helper = ThreadPoolExecutor(1, thread_name_prefix="autoq-helper", initializer=torch.set_num_threads, initargs=(1,))
    grad = torch.is_grad_enabled()

    def run_first() -> T:
        with torch.set_grad_enabled(grad):
            return first()

    pending = _helper.submit(run_first)
    try:
        b = second()
    finally:
        a = pending.result()
    return a, b
