"""Fixtures for search tests: tiny searches on the embedded default."""

from __future__ import annotations

import pytest


TINY = dict(
    dataset="digits", calib_size=64, reward_size=200, batch_size=200, episodes=5,
    agent_options={"warmup_episodes": 2, "hidden": 32, "kernel_updates_per_episode": 8},
)


@pytest.fixture
def tiny(default_cache, tmp_path):
    """Settings of a tiny search on the embedded default, in a fresh run folder."""
    return {**TINY, "out": str(tmp_path / "run")}
