"""Policy files: round trip, statistics, and one specific message per kind of invalid file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from autoq.errors import AutoQError
from autoq.quant import Policy, apply_policy, discover_layers, policy_of


@pytest.fixture
def layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    return discover_layers(model, torch.zeros(1, 3, 8, 8)).layers


def write(tmp_path, data):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip(tmp_path, layers):
    p = Policy({"0": [1, 2, 3, 8], "3": [4] * 5}, {"0": 8, "3": 3}, {"model": "x"})
    p.save(tmp_path / "p.json")
    q = Policy.load(tmp_path / "p.json", layers)
    assert q == p and q.meta == {"model": "x"}
    assert list(q.weight_bits) == ["0", "3"]


def test_statistics(layers):
    p = Policy({"0": [2, 2, 4, 4], "3": [8] * 5}, {"0": 8, "3": 4})
    conv_k, fc_k = 27, 144
    assert p.size_bits(layers) == 12 * conv_k + 40 * fc_k
    assert p.avg_weight_bits(layers) == pytest.approx((12 * conv_k + 40 * fc_k) / (4 * conv_k + 5 * fc_k))
    conv_macs, fc_macs = 4 * 27 * 36, 5 * 144
    assert p.avg_weight_bits(layers, by="macs") == pytest.approx((3 * conv_macs + 8 * fc_macs) / (conv_macs + fc_macs))
    assert p.avg_act_bits(layers, by="macs") == pytest.approx((8 * conv_macs + 4 * fc_macs) / (conv_macs + fc_macs))


def test_uniform_and_layerwise(layers):
    u = Policy.uniform(layers, 4, 6)
    assert all((v == 4).all() for v in u.weight_bits.values()) and set(u.act_bits.values()) == {6}
    lw = Policy.layerwise(layers, [2, 8], [3, 5])
    assert lw.weight_bits["3"].tolist() == [8] * 5 and lw.act_bits == {"0": 3, "3": 5}


GOOD = {
    "format": "autoq.policy",
    "version": 1,
    "layers": {"0": {"weight_bits": [8] * 4, "act_bits": 8}, "3": {"weight_bits": [8] * 5, "act_bits": 8}},
}


def variant(path_fn):
    data = json.loads(json.dumps(GOOD))
    path_fn(data)
    return data


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["layers"].update({"fc9": {"weight_bits": [8], "act_bits": 8}}), "unknown layer 'fc9'"),
        (lambda d: d["layers"].pop("3"), "layer '3' is missing field 'weight_bits'"),
        (
            lambda d: d["layers"]["0"].update({"weight_bits": [8] * 3}),
            "layer '0' field 'weight_bits' has 3 entries, the layer has 4 kernels",
        ),
        (lambda d: d["layers"]["0"].update({"weight_bits": [8, 8, 9, 8]}), "layer '0' field 'weight_bits' has 9, outside [0, 8]"),
        (lambda d: d["layers"]["3"].update({"act_bits": 0}), "layer '3' field 'act_bits' is 0, outside [1, 8]"),
        (
            lambda d: d["layers"]["0"].update({"weight_bits": [8, "8", 8, 8]}),
            "layer '0' field 'weight_bits' must be a list of integers",
        ),
        (lambda d: d["layers"]["0"].update({"act_bits": 7.5}), "layer '0' field 'act_bits' must be an integer"),
        (lambda d: d["layers"]["0"].update({"act_bits": True}), "layer '0' field 'act_bits' must be an integer"),
        (lambda d: d["layers"]["0"].pop("act_bits"), "layer '0' is missing field 'act_bits'"),
        (lambda d: d["layers"]["0"].update({"wbits": 1}), "layer '0' has unknown field 'wbits'"),
        (lambda d: d.update({"version": 7}), "policy version 7 is not supported"),
        (lambda d: d.update({"format": "haq"}), "field 'format' must be 'autoq.policy'"),
        (lambda d: d.update({"layers": []}), "field 'layers' must be an object"),
    ],
)
def test_invalid_policies_are_rejected_with_their_message(tmp_path, layers, mutate, message):
    path = write(tmp_path, variant(mutate))
    with pytest.raises(AutoQError) as err:
        Policy.load(path, layers)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_not_json_and_missing_file(tmp_path, layers):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(AutoQError, match="not valid JSON"):
        Policy.load(bad, layers)
    with pytest.raises(AutoQError, match="does not exist"):
        Policy.load(tmp_path / "none.json", layers)


def test_parse_spec(layers):
    assert Policy.parse_spec("uniform:4:5", layers) == Policy.uniform(layers, 4, 5)
    for bad in ("uniform:4", "uniform:a:b", "uniform:4:4:4"):
        with pytest.raises(AutoQError, match="uniform:W:A"):
            Policy.parse_spec(bad, layers)
    with pytest.raises(AutoQError, match="outside"):
        Policy.parse_spec("uniform:9:4", layers)


def test_apply_policy_leaves_float_model_untouched(layers):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    policy = Policy({"0": [1, 2, 3, 0], "3": [2] * 5}, {"0": 8, "3": 2})
    q = apply_policy(model, policy)
    assert all(type(m) in (nn.Conv2d, nn.Linear, nn.ReLU, nn.Flatten) for m in model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert policy_of(q) == policy
    assert np.array_equal(q[0].w_bits.numpy(), [1, 2, 3, 0])
