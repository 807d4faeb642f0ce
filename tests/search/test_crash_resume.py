"""kill -9 at several moments of a search, then --resume: the folder ends as an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import autoq
from autoq.runs import folder as rf

TIMING = {"eval_s", "agent_s", "cost_s", "episode_s"}
ARGS = [
    "--dataset",
    "digits",
    "--calib-size",
    "64",
    "--reward-size",
    "200",
    "--batch-size",
    "200",
    "--episodes",
    "4",
    "--agent-warmup-episodes",
    "2",
    "--agent-hidden",
    "32",
    "--agent-kernel-updates-per-episode",
    "8",
    "--quiet",
]

# Runs the CLI with one run-folder write replaced by one that kills the process with SIGKILL at its
# N-th call: "after" the write completed, or "during" it (a temporary file half written, not renamed).
DRIVER = """
import os, signal, sys
from autoq.runs import folder as rf
from autoq.cli.main import main

target, when, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
original, calls = getattr(rf, target), []

def killing(path, data):
    calls.append(1)
    if len(calls) == nth:
        if when == "during":
            tmp = path.parent / f".{path.name}.killed.tmp"
            tmp.write_bytes(bytes(data[: len(data) // 2]) if isinstance(data, (bytes, bytearray)) else b"partial")
        else:
            original(path, data)
        os.kill(os.getpid(), signal.SIGKILL)
    original(path, data)

setattr(rf, target, killing)
sys.exit(main(sys.argv[4:]))
"""


def cli(argv: list[str], driver: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(autoq.__file__).resolve().parents[1])}
    code = ["-c", DRIVER, *driver] if driver else ["-m", "autoq"]
    return subprocess.run([sys.executable, *code, *argv], env=env, capture_output=True, text=True, timeout=300)


def folder_state(folder: Path) -> tuple:
    rows = [{k: repr(v) for k, v in r.items() if k not in TIMING} for r in rf.read_rows(folder / rf.EPISODES)]
    return rows, (folder / rf.BEST_POLICY).read_text(), rf.load_checkpoint(folder / rf.CHECKPOINT)["episode"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, default_cache) -> tuple:
    folder = tmp_path_factory.mktemp("full") / "run"
    done = cli(["search", "--out", str(folder), *ARGS])
    assert done.returncode == 0, done.stderr
    return folder_state(folder)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, when, nth",
    [
        ("atomic_write_bytes", "during", 2),  # while the second checkpoint is written: half its bytes in a temporary
        ("save_checkpoint", "after", 1),  # right after the first episode's checkpoint
        ("write_rows", "after", 3),  # the third row is on disk, its checkpoint is not
    ],
)
def test_sigkill_then_resume_equals_an_uninterrupted_run(target, when, nth, uninterrupted, tmp_path):
    folder = tmp_path / "run"
    killed = cli(["search", "--out", str(folder), *ARGS], driver=[target, when, str(nth)])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(folder.glob(".*.tmp")) or when == "after"
    resumed = cli(["search", "--out", str(folder), *ARGS, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert folder_state(folder) == uninterrupted
    assert not list(folder.glob(".*.tmp"))
