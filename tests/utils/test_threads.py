"""one_thread and side_by_side: thread counts, where each call runs, results, errors, gradient mode."""

from __future__ import annotations

import threading

import pytest
import torch

from autoq.utils import threads


def test_one_thread_sets_a_core_aside_and_restores(monkeypatch):
    before = torch.get_num_threads()
    if before < 2:
        torch.set_num_threads(2)
    try:
        with threads.one_thread():
            assert torch.get_num_threads() == 1 and threads._spare >= 1
        assert threads._spare == 0 and torch.get_num_threads() >= 2
    finally:
        torch.set_num_threads(before)


def test_side_by_side_runs_in_order_without_a_spare_core(monkeypatch):
    monkeypatch.setattr(threads, "_spare", 0)
    where = []
    out = threads.side_by_side(lambda: where.append(threading.get_ident()) or 1, lambda: where.append(threading.get_ident()) or 2)
    assert out == (1, 2) and where == [threading.get_ident()] * 2


def test_side_by_side_runs_the_first_beside_the_caller(monkeypatch):
    monkeypatch.setattr(threads, "_spare", 1)
    first_started = threading.Event()

    def first():
        first_started.set()
        return threading.get_ident(), torch.is_grad_enabled(), torch.get_num_threads()

    def second():
        assert first_started.wait(10)  # both run at once: the first started while the second runs
        return threading.get_ident()

    with torch.no_grad():
        (ident, grad, n_threads), mine = threads.side_by_side(first, second)
    assert ident != mine == threading.get_ident()
    assert grad is False and n_threads == 1


@pytest.mark.parametrize("failing", ["first", "second"])
def test_side_by_side_raises_what_either_raised(monkeypatch, failing):
    monkeypatch.setattr(threads, "_spare", 1)
    done = []

    def call(name):
        def run():
            if name == failing:
                raise ValueError(name)
            done.append(name)

        return run

    with pytest.raises(ValueError, match=failing):
        threads.side_by_side(call("first"), call("second"))
    assert done == [n for n in ("first", "second") if n != failing]  # the other one finished
