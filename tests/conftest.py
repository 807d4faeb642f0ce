"""Shared fixtures: the read-only ``../shared`` folder with real data and weights; tiny searches on
the embedded default; one torch thread for the folders whose tensors are small."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoq.data.paths import shared_dir
from autoq.utils.threads import one_thread

# small tensors gain nothing from threads, and on shared cores the pool's waits cost more than the work
ONE_THREAD_FOLDERS = {"agents", "export", "models"}


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    if request.path.parent.name in ONE_THREAD_FOLDERS:
        with one_thread():
            yield
    else:
        yield


def require_shared(relative: str) -> Path:
    """Path of a file under the shared folder; skip the test when it is absent (fail in CI)."""
    root = shared_dir()
    path = root / relative if root is not None else None
    if path is None or not path.exists():
        reason = f"shared file {relative!r} not found (set AUTOQ_SHARED to the folder holding it)"
        if os.environ.get("AUTOQ_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def cifar10_npz() -> Path:
    return require_shared("data/cifar10/cifar10_subset.npz")


@pytest.fixture
def resnet20_weights() -> Path:
    return require_shared("models/cifar10/resnet20-12fca82f.th")


@pytest.fixture
def resnet32_weights() -> Path:
    return require_shared("models/cifar10/resnet32-d509ac18.th")


@pytest.fixture(scope="session")
def cifar10_jpeg():
    """The JPEG CIFAR-10 bundle (decoded once per session; the decoded arrays are cached on disk too)."""
    from autoq.data import load_dataset

    return load_dataset("cifar10-jpeg", require_shared("data/cifar10-jpeg/cifar10_jpeg.npz"))


@pytest.fixture
def jpeg_weights():
    """``fn(model)``: the shared folder's JPEG CIFAR-10 weights of ``model`` (``resnet20``, ``mobilenet_v2``, ...)."""
    return lambda model: require_shared(f"models/cifar10-jpeg/{model}.pth")


@pytest.fixture
def jpeg_npz() -> Path:
    return require_shared("data/cifar10-jpeg/cifar10_jpeg.npz")


@pytest.fixture(scope="session")
def default_cache(tmp_path_factory):
    """A fresh, empty cache folder for the whole session (the embedded default ships its weights)."""
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("AUTOQ_CACHE")
    os.environ["AUTOQ_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("AUTOQ_CACHE", None)
    else:
        os.environ["AUTOQ_CACHE"] = old


TINY = dict(
    dataset="digits",
    calib_size=64,
    reward_size=200,
    batch_size=200,
    episodes=5,
    agent_options={"warmup_episodes": 2, "hidden": 32, "kernel_updates_per_episode": 8},
)


@pytest.fixture
def tiny(default_cache, tmp_path):
    """Settings of a tiny search on the embedded default, in a fresh run folder."""
    return {**TINY, "out": str(tmp_path / "run")}
