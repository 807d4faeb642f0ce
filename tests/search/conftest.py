"""Fixtures for search tests: the embedded default, trained once per session into a private cache."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_cache(tmp_path_factory):
    """A cache folder holding the trained embedded default (trained once for the whole session)."""
    import os

    from autoq.models import default_model

    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("AUTOQ_CACHE")
    os.environ["AUTOQ_CACHE"] = str(path)
    default_model()
    yield path
    if old is None:
        os.environ.pop("AUTOQ_CACHE", None)
    else:
        os.environ["AUTOQ_CACHE"] = old


TINY = dict(
    dataset="digits", calib_size=64, reward_size=200, batch_size=200, episodes=5,
    agent_options={"warmup_episodes": 2, "hidden": 32, "kernel_updates_per_episode": 8},
)


@pytest.fixture
def tiny(default_cache, tmp_path):
    """Settings of a tiny search on the embedded default, in a fresh run folder."""
    return {**TINY, "out": str(tmp_path / "run")}
