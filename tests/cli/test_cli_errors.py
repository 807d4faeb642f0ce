"""Bad input ends with one clear line on stderr, exit code 2 and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autoq.cli.main import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect", "--model", "resnet9000"], "unknown model 'resnet9000'"),
        (["evaluate", "--model", "resnet20", "--weights", "/nonexistent/w.th"], "/nonexistent/w.th"),
        (["evaluate", "--dataset", "imagenet-22k"], "unknown data set 'imagenet-22k'"),
        (["cost", "--policy", "uniform:9:9"], "outside [0, 8]"),
        (["cost", "--hardware", "/nonexistent/board.yaml"], "board.yaml"),
        (["search", "--budget", "latency=fast"], "budget 'latency=fast'"),
        (["search", "--config", "/nonexistent/c.yaml"], "config file '/nonexistent/c.yaml' does not exist"),
        (["finetune", "--policy", "/nonexistent/p.json"], "policy file '/nonexistent/p.json' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, default_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a command's default run folder is relative
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_malformed_policy_file(tmp_path, capsys, default_cache):
    bad = tmp_path / "p.json"
    bad.write_text(
        json.dumps({"format": "autoq.policy", "version": 1, "layers": {"features.0": {"weight_bits": [8], "act_bits": 8}}})
    )
    assert main(["evaluate", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "field 'weight_bits' has 1 entries, the layer has 32 kernels" in err or "missing" in err


def test_every_command_has_help():
    out = subprocess.run([sys.executable, "-m", "autoq", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("demo", "search", "finetune", "evaluate", "inspect", "cost", "report", "export"):
        assert cmd in out.stdout
        sub = subprocess.run([sys.executable, "-m", "autoq", cmd, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0 and "--json" in sub.stdout, cmd


def test_inspect_json_and_list(capsys, default_cache):
    assert main(["inspect", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [l["name"] for l in out["layers"]] == ["features.0", "features.3", "features.7", "classifier"]
    assert main(["inspect", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"resnet20", "resnet50", "mobilenet_v2", "digits-cnn"} <= set(listed["models"])
    assert {"cifar10-subset", "digits", "synthetic", "fashion-mnist", "imagenet", "cifar10"} <= set(listed["datasets"])
