"""``autoq cost``: the text and JSON reports."""

from __future__ import annotations

import json
import types

import pytest
from hw_reference import conv, linear, renumber

from autoq.cli import common
from autoq.cli import cost as cost_cli
from autoq.hardware import cost
from autoq.quant.discovery import Discovery
from autoq.quant.policy import Policy

LAYERS = renumber([conv(3, 16, out_hw=16, name="conv"), conv(16, 32, out_hw=8, stride=2, name="conv"), linear(32, 10)])


def test_summarize_json_and_text():
    policy = Policy.uniform(LAYERS, 4, 4)
    obj, text = cost_cli.summarize(LAYERS, policy, "temporal")
    assert obj == cost(LAYERS, policy, "temporal").to_dict()
    assert [l["name"] for l in obj["layers"]] == ["conv0", "conv1", "fc2"]
    for name in ("conv0", "conv1", "fc2"):
        assert name in text
    assert f"latency      {obj['latency_s'] * 1e3:.3f} ms" in text
    assert f"energy       {obj['energy_j'] * 1e3:.3f} mJ" in text
    assert "29,678 LUT" in text and "utilisation" in text


def _args(**kw):
    base = dict(policy="uniform:8:8", hardware="temporal", no_sort=False, batch=1, json=True)
    return types.SimpleNamespace(**{**base, **kw})


@pytest.fixture
def fake_model(monkeypatch):
    spec = types.SimpleNamespace(name="tiny")
    monkeypatch.setattr(common, "build_model", lambda args: (None, spec, Discovery(layers=LAYERS)))


def test_run_prints_one_json_object(fake_model, capsys):
    assert cost_cli.run(_args(policy="uniform:2:4", hardware="spatial", no_sort=True)) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "tiny" and d["kind"] == "spatial" and d["sort_kernels"] is False
    assert set(d["area"]) >= {"lut", "ff", "bram36", "dsp", "utilisation"}
    assert len(d["layers"]) == 3


def test_run_with_a_board_file_and_a_policy_file(fake_model, tmp_path, capsys):
    board = tmp_path / "board.yaml"
    board.write_text("base: temporal\nname: slow\nclock_mhz: 100\n")
    policy = Policy.uniform(LAYERS, 4, 4)
    policy.weight_bits["conv1"][:16] = 2
    path = tmp_path / "p.json"
    policy.save(path)
    assert cost_cli.run(_args(policy=str(path), hardware=str(board))) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["accelerator"] == "slow"
    assert d["latency_s"] == pytest.approx(2 * cost(LAYERS, policy, "temporal").latency_s, rel=1e-9)


def test_main_reports_user_errors_in_one_line(fake_model, capsys):
    from autoq.cli.main import main

    assert main(["cost", "--hardware", "missing.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autoq cost: error: accelerator 'missing.yaml'") and err.count("\n") == 1


def test_text_marks_what_bounds_each_layer_and_the_fused_precisions():
    policy = Policy.uniform(LAYERS, 3, 4)
    obj, text = cost_cli.summarize(LAYERS, policy, "spatial")
    assert "limited by" in text and "fused w/a" in text
    assert [l["fused_bits"] for l in obj["layers"]] == [{"weights": [4], "act": 4}] * 3
    for l in obj["layers"]:
        assert l["limited_by"] in ("compute", "weight traffic", "activation traffic")
        assert l["limited_by"] in text
    assert "weights stream from DRAM" in text
    _, text = cost_cli.summarize(LAYERS, policy, "temporal")
    assert "fused w/a" not in text and "limited by" in text


def test_text_counts_resident_weights(tmp_path):
    board = tmp_path / "resident.yaml"
    board.write_text("base: temporal\nweights_on_chip: true\n")
    obj, text = cost_cli.summarize(LAYERS, Policy.uniform(LAYERS, 8, 8), str(board))
    a = obj["area"]
    assert a["weights_on_chip"] and a["bram36_weights"] == sum(l["bram36"] for l in obj["layers"]) > 0
    assert f"({a['bram36_accelerator']} accelerator + {a['bram36_weights']} resident weights)" in text
