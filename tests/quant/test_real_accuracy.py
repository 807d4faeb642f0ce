"""Quantized ResNet-20 on the real CIFAR-10 test images, through the command line."""

from __future__ import annotations

import json

import pytest

from autoq.cli.main import main


def evaluate_json(capsys, *extra: str) -> dict:
    assert main(["evaluate", "--model", "resnet20", "--dataset", "cifar10-subset", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_uniform_8_bit_resnet20_stays_within_half_a_point(capsys, resnet20_weights, cifar10_npz):
    data = ["--weights", str(resnet20_weights), "--data-dir", str(cifar10_npz.parent)]
    fp = evaluate_json(capsys, *data)
    q8 = evaluate_json(capsys, *data, "--policy", "uniform:8:8")
    assert fp["n"] == q8["n"] == 1000
    assert fp["top1"] == pytest.approx(0.915, abs=1e-9)
    assert fp["top1"] - q8["top1"] <= 0.005
    assert 0.99 <= q8["top5"] <= 1.0
