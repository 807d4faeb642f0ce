"""Hostile input across the subcommands: one line on stderr, exit code 2, nothing left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from autoq.cli.main import main
from autoq.models import default_model

BOMB = 'a: &a ["x", "x"]\nb: &b [*a, *a]\nc: &c [*b, *b]\n' + "".join(f"d{i}: &d{i} [*c, *c, *c]\n" for i in range(120))


def run_cli(argv: list[str], capsys) -> str:
    """Run the command, check the one-line exit-2 contract, return the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "config, message",
    [
        ("mode: foo\n", "--mode is 'foo'; choose one of resource, accuracy"),
        ("calibrate: never\n", "--calibrate is 'never'"),
        ("reward_finetune_batches: -2\n", "--reward-finetune-batches must be 0 or more"),
        ("agent_options: 5\n", "agent_options must be a mapping"),
        ("finetune_options: [1]\n", "finetune_options must be a mapping"),
        ("finetune_options: {lr: .nan}\n", "setting 'lr' must be a finite number"),
        ("finetune_options: {momentum: 1.5}\n", "finetune momentum 1.5 must be in [0, 1)"),
        ("psi_acc: .inf\n", "setting 'psi_acc' must be a finite number"),
        ("seed: -1\n", "--seed -1 must be between 0 and 2**32 - 1"),
        ("episodes: 3\nepisodes: 4\n", "key 'episodes' appears twice"),
        (BOMB, "aliases"),
        ("[" * 3000, "nested too deeply"),
        ("episodes: " + "9" * 5000 + "\n", "not a valid settings value"),
        ("episodes: 1.0e+400\n", "must be an integer"),
    ],
)
def test_config_file_values_get_the_checks_of_flags(config, message, tmp_path, capsys, default_cache):
    out = tmp_path / "run"
    err = run_cli(["search", "--config", write(tmp_path / "c.yaml", config), "--out", str(out), "--quiet"], capsys)
    assert message in err and not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seed", "-1"], "--seed -1 must be between"),
        (["--seed", "99999999999999999999999"], "must be between 0 and 2**32 - 1"),
        (["--agent-noise", "inf"], "setting 'noise' must be a finite number"),
        (["--psi-acc", "nan"], "setting 'psi_acc' must be a finite number"),
        (["--finetune", "--finetune-lr", "nan"], "setting 'lr' must be a finite number"),
        (["--finetune", "--finetune-lr", "1e30"], "finetune lr 1e+30 must be in (0, 10]"),
        (["--finetune", "--finetune-epochs", "-1"], "finetune epochs must be 0 or more"),
        (["--num-classes", "-3"], "--num-classes -3 must be between 1 and 1000000"),
    ],
)
def test_bad_search_flags_are_refused_before_any_work(flags, message, tmp_path, capsys, default_cache):
    out = tmp_path / "run"
    err = run_cli(["search", "--out", str(out), "--episodes", "2", "--quiet", *flags], capsys)
    assert message in err and not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["finetune", "--policy", "uniform:4:4", "--lr", "nan"], "must be a finite number"),
        (["finetune", "--policy", "uniform:4:4", "--lr", "1e30"], "must be in (0, 10]"),
        (["finetune", "--policy", "uniform:4:4", "--num-classes", "0"], "--num-classes 0 must be between"),
        (["inspect", "--model", "digits-cnn", "--num-classes", "-3"], "--num-classes -3 must be between"),
        (["inspect", "--model", "resnet20", "--input-shape", "3,100000,100000"], "values per image"),
        (["evaluate", "--seed", "-1"], "--seed -1 must be between"),
    ],
)
def test_bad_values_in_other_commands(argv, message, capsys, default_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in run_cli(argv, capsys)


@pytest.mark.parametrize("policy", ["uniform:8:8", "uniform:4:4"])
def test_nan_weights_are_refused_by_name(policy, tmp_path, capsys, default_cache):
    model, _ = default_model()
    state = model.state_dict()
    state["features.3.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    err = run_cli(["evaluate", "--model", "digits-cnn", "--weights", str(tmp_path / "nan.pt"), "--policy", policy], capsys)
    assert "tensor 'features.3.weight' holds NaN or infinite values" in err


@pytest.mark.parametrize(
    "board, message",
    [
        ("base: temporal\nclock_mhz: 200\nclock_mhz: 100\n", "key 'clock_mhz' appears twice"),
        (BOMB, "aliases"),
        ("{" * 3000, "nested too deeply"),
        ("\x00\x01", "not valid YAML"),
    ],
)
def test_malformed_board_files(board, message, tmp_path, capsys):
    assert message in run_cli(["cost", "--hardware", write(tmp_path / "b.yaml", board)], capsys)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"format": "autoq.policy", "version": ' + "9" * 5000 + "}", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_policy_files(text, message, tmp_path, capsys, default_cache):
    assert message in run_cli(["evaluate", "--policy", write(tmp_path / "p.json", text)], capsys)


def test_folders_given_as_files_are_called_folders(tmp_path, capsys, default_cache):
    assert "is a folder, not a file" in run_cli(["search", "--config", str(tmp_path)], capsys)
    assert "is a folder, not a file" in run_cli(["evaluate", "--policy", str(tmp_path)], capsys)


def test_out_that_is_a_file(tmp_path, capsys, default_cache):
    target = tmp_path / "file"
    target.write_text("x")
    assert "is a file, not a folder" in run_cli(["search", "--out", str(target), "--episodes", "1", "--quiet"], capsys)
    assert target.read_text() == "x"


@pytest.mark.parametrize(
    "code, words",
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")],
)
def test_os_errors_while_writing_are_one_line(code, words, tmp_path, capsys, default_cache, monkeypatch):
    from autoq.runs import folder as runfolder

    def failing(path, obj):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(runfolder, "atomic_write_yaml", failing)
    err = run_cli(["search", "--out", str(tmp_path / "run"), "--episodes", "1", "--quiet"], capsys)
    assert words in err and "config.yaml" in err and "check the path, its permissions and the free disk space" in err


def test_demo_accepts_a_fraction_and_leaves_nothing_when_it_fails(tmp_path, capsys, default_cache):
    out = tmp_path / "demo"
    err = run_cli(["demo", "--budget", "0.0001", "--out", str(out), "--quiet"], capsys)
    assert "budget latency=" in err and "cannot be met" in err  # 0.0001 read as a latency fraction
    assert not out.exists()


def test_sigterm_is_handled_like_ctrl_c_and_the_run_resumes(tmp_path, capsys, default_cache, monkeypatch):
    import signal

    from autoq.runs import folder as rf
    from autoq.search import run as run_module

    original, calls = run_module.rollout, []

    def terminate_in_the_second_episode(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises before the kill returns
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "rollout", terminate_in_the_second_episode)
    argv = ["search", "--out", str(tmp_path / "run"), "--episodes", "3", "--quiet", "--calib-size", "64", "--reward-size", "200"]
    before = signal.getsignal(signal.SIGTERM)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert err.endswith("interrupted; every finished episode is saved: run the same command with --resume to continue")
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is removed again
    assert rf.load_checkpoint(tmp_path / "run" / rf.CHECKPOINT)["episode"] == 1
    monkeypatch.setattr(run_module, "rollout", original)
    assert main([*argv, "--resume"]) == 0
    assert [r["episode"] for r in rf.read_rows(tmp_path / "run" / rf.EPISODES)] == [0, 1, 2]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, default_cache) -> Path:
    from conftest import TINY

    from autoq.search import search

    out = tmp_path_factory.mktemp("finished") / "run"
    search(progress=False, **{**TINY, "episodes": 2, "out": str(out)})
    return out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["finetune", "--run", "{run}", "--epochs", "1", "--quiet", "--out", "{file}"],
            "run folder '{file}' is a file, not a folder",
        ),
        (
            ["finetune", "--run", "{run}", "--epochs", "1", "--quiet", "--out", "{file}/x"],
            "cannot create run folder '{file}/x' (Not a directory)",
        ),
        (["export", "{run}", "--out", "{file}"], "export folder '{file}' is a file, not a folder"),
        (["export", "{run}", "--out", "{file}/x"], "cannot create export folder '{file}/x' (Not a directory)"),
        (["search", "--out", "{file}/x", "--quiet"], "cannot create run folder '{file}/x' (Not a directory)"),
    ],
)
def test_out_that_cannot_be_a_folder(argv, message, finished_run, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    fill = lambda s: s.format(run=finished_run, file=target)  # noqa: E731
    assert fill(message) in run_cli([fill(a) for a in argv], capsys)


def test_report_folder_taken_by_a_file(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "report").write_text("x")
    assert "cannot access" in run_cli(["report", str(run)], capsys)


def test_an_unwritable_cache_is_not_needed(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("AUTOQ_CACHE", str(blocker / "cache"))  # nothing can be created there
    argv = ["search", "--out", str(tmp_path / "run"), "--episodes", "1", "--quiet", "--calib-size", "64", "--reward-size", "200"]
    assert main(argv) == 0
    assert main(["inspect", "--json"]) == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="file permissions do not bind root")
@pytest.mark.parametrize("name", ["policy", "board", "config", "best_policy.json", "episodes.csv"])
def test_unreadable_files(name, finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    files = {
        "policy": run / "best_policy.json",
        "board": write(tmp_path / "b.yaml", "base: temporal\n"),
        "config": write(tmp_path / "c.yaml", "episodes: 2\n"),
        "best_policy.json": run / "best_policy.json",
        "episodes.csv": run / "episodes.csv",
    }
    argv = {
        "policy": ["evaluate", "--policy", str(files["policy"])],
        "board": ["cost", "--hardware", str(files["board"])],
        "config": ["search", "--config", str(files["config"])],
        "best_policy.json": ["report", str(run)],
        "episodes.csv": ["report", str(run)],
    }[name]
    os.chmod(files[name], 0)
    try:
        err = run_cli(argv, capsys)
    finally:
        os.chmod(files[name], 0o644)
    assert "Permission denied" in err or "cannot" in err
