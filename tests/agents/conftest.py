"""Agents' tests run single-threaded: tiny networks gain nothing from threads, and on a shared
machine the thread pool's waits cost more than the arithmetic."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
