"""``autoq export``: from a policy file and from a search run folder (with finetuned weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from autoq.cli.main import main
from autoq.export import freeze, load_packed, read_packed
from autoq.quant import Policy, apply_policy, calibrate

NET = """
import torch.nn as nn
INPUT_SHAPE = (3, 8, 8)
NUM_CLASSES = 4
DATASET = "synthetic"

def build(num_classes=NUM_CLASSES):
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, groups=3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8 * 8, num_classes),
    )
"""
DATA = ["--calib-size", "64", "--reward-size", "64", "--batch-size", "64"]


@pytest.fixture
def model_ref(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    return f"{tmp_path / 'net.py'}:build"


def _policy(seed=0):
    rng = np.random.default_rng(seed)
    return Policy({"0": rng.integers(2, 9, 6), "3": rng.integers(1, 9, 6), "6": rng.integers(2, 9, 4)}, {"0": 8, "3": 6, "6": 5})


def test_export_from_a_policy_file(model_ref, tmp_path, capsys):
    policy = _policy()
    policy.save(tmp_path / "p.json")
    out = tmp_path / "out"
    rc = main(
        [
            "export",
            "--policy",
            str(tmp_path / "p.json"),
            "--model",
            model_ref,
            *DATA,
            "--format",
            "packed",
            "onnx",
            "--check-images",
            "8",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["files"]) == {"packed", "onnx"}
    assert {p.name for p in out.iterdir()} == {"model.packed.safetensors", "model.onnx", "policy.json"}
    assert Policy.load(out / "policy.json") == policy
    assert all(c["ok"] and c["images"] == 8 for c in report["checks"].values())
    assert report["checks"]["packed"]["max_rel_error"] == 0.0
    sizes = report["sizes"]
    assert sizes["packed"] < sizes["uniform8"] < sizes["float32"]
    assert sizes["files"]["packed"] == (out / "model.packed.safetensors").stat().st_size
    packed = read_packed(out / "model.packed.safetensors")
    assert packed.meta["source"] == str(tmp_path / "p.json") and packed.meta["finetuned"] is False
    assert packed.folded == {"1": "0"} and packed.policy == policy


def test_export_from_a_run_folder_uses_the_finetuned_weights(model_ref, tmp_path, capsys):
    from autoq.config import RunConfig
    from autoq.data import iterate_batches
    from autoq.engine.setup import build_workload

    run = tmp_path / "run"
    run.mkdir()
    cfg = RunConfig(model=model_ref, dataset="synthetic", calib_size=64, reward_size=64, batch_size=64, seed=0)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict() | {"agent": "autoq", "episodes": 3}))
    policy = _policy(1)
    policy.save(run / "best_policy.json")
    # "finetuned" weights: the quantized model with perturbed weights, as finetune.py saves it
    work = build_workload(cfg)
    q = apply_policy(work.model, policy)
    with torch.no_grad():
        for p in q.parameters():
            p.add_(0.05 * torch.randn_like(p))
    calibrate(q, iterate_batches(work.splits.calib, 64))
    torch.save(q.state_dict(), run / "finetuned.pt")

    assert main(["export", str(run), "--format", "packed", "--check-images", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    path = run / "export" / "model.packed.safetensors"
    assert report["files"] == {"packed": str(path)}
    expected = freeze(q.eval())
    loaded = load_packed(path, work.model)
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), expected(x))
    assert read_packed(path).meta["finetuned"] is True


def test_export_needs_exactly_one_source(model_ref, tmp_path, capsys):
    assert main(["export", "--model", model_ref]) == 2
    assert "give a search RUN_DIR or --policy" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--policy", "uniform:4:4"]) == 2
    assert "one of them" in capsys.readouterr().err
    assert main(["export", str(tmp_path)]) == 2
    assert "not a finished search folder" in capsys.readouterr().err


def test_text_report(model_ref, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                "--policy",
                "uniform:4:4",
                "--model",
                model_ref,
                *DATA,
                "--format",
                "qonnx",
                "--check-images",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "packed (kernel-wise)" in text and "uniform 8-bit" in text and "qonnx file" in text
    assert "against PyTorch" in text and " ok " in text
    assert (out / "model.qonnx.onnx").is_file()


def test_a_broken_finetuned_file_is_one_line_error(model_ref, tmp_path, capsys):
    from autoq.config import RunConfig

    run = tmp_path / "run"
    run.mkdir()
    cfg = RunConfig(model=model_ref, dataset="synthetic", calib_size=64, reward_size=64, batch_size=64)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    _policy().save(run / "best_policy.json")
    (run / "finetuned.pt").write_bytes(b"truncated")
    assert main(["export", str(run), "--format", "packed"]) == 2
    err = capsys.readouterr().err
    assert "finetuned.pt: not the finetuned state of this model and policy" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "model,formats",
    [
        ("mobilenet_v2-cifar", ["packed", "onnx"]),
        ("squeezenet1_0-cifar", ["packed", "onnx", "qonnx"]),
        ("resnet18-cifar", ["packed", "onnx"]),
    ],
)
def test_export_of_the_bench_networks_matches_the_quantized_model(model, formats, tmp_path, capsys):
    """Depthwise convolutions and residual adds without ReLU (MobileNetV2), concatenated branches and
    convolutions without batch norm (SqueezeNet), torchvision's residual blocks: the exports check out."""
    out = tmp_path / "out"
    rc = main(
        [
            "export",
            "--policy",
            "uniform:5:6",
            "--model",
            model,
            "--dataset",
            "synthetic",
            "--calib-size",
            "8",
            "--reward-size",
            "8",
            "--batch-size",
            "8",
            "--format",
            *formats,
            "--check-images",
            "2",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["files"]) == set(formats)
    assert all(c["ok"] for c in report["checks"].values()), report["checks"]
