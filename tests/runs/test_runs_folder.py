"""A run folder that knows what it holds: damaged, foreign, truncated and missing files are refused on
resume, a second process is refused, leftovers of a killed process are cleaned up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from autoq.config import RunConfig
from autoq.errors import AutoQError
from autoq.runs import folder as rf
from autoq.runs.lock import RunLock, claimed
from autoq.search import search
from autoq.train.finetune import finetune

TIMING = {"eval_s", "agent_s", "cost_s", "episode_s"}


def strip(rows):
    return [{k: repr(v) for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, default_cache):
    """Two finished 4-episode runs (seeds 0 and 1) and the settings that made them; tests copy them."""
    from conftest import TINY

    root = tmp_path_factory.mktemp("runs")
    settings = {**TINY, "episodes": 4}
    made = {}
    for seed in (0, 1):
        made[seed] = search(progress=False, **{**settings, "seed": seed, "out": str(root / f"seed{seed}")})
    return root, settings, made


def copy_run(runs, tmp_path, seed: int = 0) -> Path:
    root, _, _ = runs
    target = tmp_path / "run"
    shutil.copytree(root / f"seed{seed}", target)
    return target


def resume(runs, folder: Path, **extra):
    _, settings, _ = runs
    return search(progress=False, resume=True, **{**settings, "episodes": 6, "out": str(folder), **extra})


def cut_csv(folder: Path, keep: int) -> None:
    lines = (folder / rf.EPISODES).read_text().splitlines(keepends=True)
    (folder / rf.EPISODES).write_text("".join(lines[: 1 + keep]))


def damage_checkpoint(folder: Path) -> None:
    data = bytearray((folder / rf.CHECKPOINT).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 100] = bytes(range(100))
    (folder / rf.CHECKPOINT).write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: cut_csv(f, 2), "episodes.csv holds 2 episodes but checkpoint.pt 4: rows were lost"),
        (lambda f: (f / rf.EPISODES).write_text(""), "episodes.csv holds 0 episodes but checkpoint.pt 4"),
        (lambda f: (f / rf.EPISODES).unlink(), "episodes.csv holds 0 episodes"),
        (
            lambda f: (f / rf.EPISODES).write_text((f / rf.EPISODES).read_text().replace("\n1,", "\n1,0.5", 1)),
            "does not match checkpoint.pt",
        ),
        (lambda f: (f / rf.EPISODES).write_text((f / rf.EPISODES).read_text() + "4,0.1\n"), "line 6 has too few cells"),
        (lambda f: (f / rf.EPISODES).write_text((f / rf.EPISODES).read_text().replace("\n1,", "\n1\x00,", 1)), "does not match"),
        (lambda f: (f / rf.CHECKPOINT).write_bytes(b""), "is not an autoq checkpoint"),
        (lambda f: (f / rf.CHECKPOINT).write_bytes(b"\x00" * 100), "is not an autoq checkpoint"),
        (damage_checkpoint, "is damaged (checksum mismatch)"),
        (lambda f: (f / rf.CHECKPOINT).unlink(), "holds episodes.csv but no checkpoint.pt; restore checkpoint.pt"),
        (lambda f: (f / rf.CONFIG).write_text("seed: 0\nseed: 1\n"), "key 'seed' appears twice"),
        (lambda f: (f / rf.CONFIG).write_text("[1, 2]"), "is not a mapping of settings"),
    ],
)
def test_damaged_run_files_are_refused(damage, message, runs, tmp_path):
    folder = copy_run(runs, tmp_path)
    damage(folder)
    with pytest.raises(AutoQError, match="restore") as info:
        resume(runs, folder)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", [rf.EPISODES, rf.CHECKPOINT])
def test_files_of_another_run_are_refused(name, runs, tmp_path):
    root, _, _ = runs
    folder = copy_run(runs, tmp_path)
    shutil.copy(root / "seed1" / name, folder / name)
    match = "belongs to another run" if name == rf.CHECKPOINT else "does not match checkpoint.pt"
    with pytest.raises(AutoQError, match=match):
        resume(runs, folder)


def test_changed_weights_at_the_same_path_are_refused(runs, tmp_path):
    from autoq.models import default_model

    model, _ = default_model()
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    _, settings, _ = runs
    folder = tmp_path / "run"
    search(progress=False, **{**settings, "episodes": 1, "model": "digits-cnn", "weights": str(weights), "out": str(folder)})
    inputs = yaml.safe_load((folder / rf.CONFIG).read_text())["run"]["inputs"]
    assert set(inputs) == {"weights", "data", "board"} and all(len(v) == 64 for v in inputs.values())
    state = model.state_dict()
    state["classifier.bias"] += 1.0
    torch.save(state, weights)
    with pytest.raises(AutoQError, match=r"the model's weights changed since the run started \(sha256 \w{12} then, \w{12} now\)"):
        search(
            progress=False,
            resume=True,
            **{**settings, "episodes": 2, "model": "digits-cnn", "weights": str(weights), "out": str(folder)},
        )


def test_changed_board_file_is_refused(runs, tmp_path):
    _, settings, _ = runs
    board = tmp_path / "board.yaml"
    board.write_text("base: temporal\n")
    folder = tmp_path / "run"
    search(progress=False, **{**settings, "episodes": 1, "hardware": str(board), "out": str(folder)})
    board.write_text("base: temporal\nclock_mhz: 100\n")
    with pytest.raises(AutoQError, match="the accelerator board changed since the run started"):
        search(progress=False, resume=True, **{**settings, "episodes": 2, "hardware": str(board), "out": str(folder)})


def test_a_second_process_on_the_same_folder_is_refused(runs, tmp_path):
    import fcntl
    import subprocess
    import sys

    folder = copy_run(runs, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(60)",
            str(folder / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AutoQError, match="is in use by another autoq process; wait for it to finish or choose another --out"):
            resume(runs, folder)
    finally:
        holder.kill()
        holder.wait()
    assert len(resume(runs, folder).episodes) == 6  # free again once the other process is gone
    with RunLock(folder), RunLock(folder):  # nested in one process (a search that finetunes): allowed
        with open(folder / ".lock") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_rows_past_the_checkpoint_and_temporaries_of_a_killed_run(runs, tmp_path, monkeypatch):
    """Interrupted between writing the table and the checkpoint: one row more than the checkpoint and a
    temporary file; the resumed run drops the row, removes the file and equals an uninterrupted one."""
    _, settings, made = runs
    folder = tmp_path / "run"
    original, calls = rf.save_checkpoint, []

    def interrupt_third(path, state):
        calls.append(1)
        if len(calls) == 3:
            (folder / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
            raise KeyboardInterrupt
        original(path, state)

    monkeypatch.setattr(rf, "save_checkpoint", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        search(progress=False, **{**settings, "out": str(folder)})
    monkeypatch.setattr(rf, "save_checkpoint", original)
    assert len(rf.read_rows(folder / rf.EPISODES)) == 3 and rf.load_checkpoint(folder / rf.CHECKPOINT)["episode"] == 2
    resumed = search(progress=False, resume=True, **{**settings, "out": str(folder)})
    assert not (folder / ".checkpoint.pt.abc123.tmp").exists()
    assert strip(resumed.episodes) == strip(made[0].episodes)


def test_resume_after_a_fresh_start_that_saved_nothing(runs, tmp_path):
    """A folder with config.yaml but no episode (interrupted at once) resumes from episode 0."""
    _, settings, made = runs
    folder = copy_run(runs, tmp_path)
    for name in (rf.CHECKPOINT, rf.EPISODES, rf.BEST_POLICY, rf.SUMMARY):
        (folder / name).unlink()
    resumed = search(progress=False, resume=True, **{**settings, "out": str(folder)})
    assert strip(resumed.episodes) == strip(made[0].episodes)


def test_a_claimed_folder_that_fails_before_any_progress_is_removed(tmp_path):
    new = tmp_path / "new"
    with pytest.raises(RuntimeError), claimed(new):
        (new / rf.CONFIG).write_text("a: 1\n")
        raise RuntimeError("failed at the start")
    assert not new.exists()

    started = tmp_path / "started"
    with pytest.raises(RuntimeError), claimed(started, progress=rf.FINETUNE_CHECKPOINT):
        (started / rf.FINETUNE_CHECKPOINT).write_bytes(b"x")
        raise RuntimeError("failed after an epoch")
    assert (started / rf.FINETUNE_CHECKPOINT).exists()  # resumable

    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), claimed(existing):
        raise RuntimeError("failed")
    assert existing.is_dir()  # not this process's to remove


def test_a_finetune_of_a_missing_policy_leaves_no_run_folder(tmp_path, default_cache):
    out = tmp_path / "ft"
    with pytest.raises(AutoQError):
        finetune(str(tmp_path / "missing.json"), RunConfig(dataset="digits"), run_dir=out, progress=False)
    assert not out.exists()
