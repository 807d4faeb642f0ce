"""The packed format: export -> load gives identical outputs; the loader validates the file."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from export_models import inputs, quantized, random_policy, tiny_net
from safetensors.torch import load, save

from autoq.errors import AutoQError
from autoq.export import check_packed, freeze, load_packed, model_sizes, read_packed, save_packed
from autoq.export.packed import PACKED_FORMAT, _checksum


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def qmodel(net):
    return quantized(net, random_policy(net, seed=3, a_bits=(4, 8), prune=True))


def _out(model, x):
    with torch.no_grad():
        return model(x)


def test_unfolded_round_trip_is_bitwise_identical_to_the_fake_quantized_model(net, qmodel, tmp_path):
    path = save_packed(qmodel, tmp_path / "m.safetensors", fold_bn=False, meta={"model": "tiny"})
    loaded = load_packed(path, net)
    x = inputs(32)
    assert torch.equal(_out(loaded, x), _out(qmodel, x))
    assert isinstance(loaded.bn1, torch.nn.BatchNorm2d)  # kept, its tensors came from the file
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # atomic write: no temporary left


def test_folded_round_trip_is_bitwise_identical_to_the_deployed_model(net, qmodel, tmp_path):
    path = save_packed(qmodel, tmp_path / "m.safetensors")
    deployed = freeze(qmodel)
    loaded = load_packed(path, net)
    x = inputs(32)
    assert torch.equal(_out(loaded, x), _out(deployed, x))
    assert isinstance(loaded.bn1, torch.nn.Identity) and isinstance(loaded.bn3, torch.nn.BatchNorm2d)
    for name, layer in deployed.named_modules():
        if hasattr(layer, "codes"):
            other = loaded.get_submodule(name)
            for key in ("codes", "scales", "bits", "bias", "act_scale"):
                a, b = getattr(layer, key), getattr(other, key)
                assert (a is None and b is None) or torch.equal(a, b), (name, key)
    assert check_packed(path, net, deployed, x).ok()


def test_file_contents(qmodel, tmp_path):
    path = save_packed(qmodel, tmp_path / "m.safetensors", meta={"model": "tiny"})
    packed = read_packed(path)
    assert packed.meta == {"model": "tiny"}
    assert packed.folded == {"bn1": "conv1", "bn2": "conv2"}
    assert list(packed.layers) == ["conv1", "conv2", "dw", "fc"]
    expected = freeze(qmodel)
    for name, layer in packed.layers.items():
        np.testing.assert_array_equal(packed.policy.weight_bits[name], layer.bits.numpy())
        assert packed.policy.act_bits[name] == layer.act_bits
        assert torch.equal(layer.codes, expected.get_submodule(name).codes)
    assert set(packed.float_state) == {
        f"bn3.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    }
    tensors = load(path.read_bytes())
    assert tensors["quant/conv1/codes"].dtype == torch.uint8
    assert tensors["quant/conv1/act_scale"].shape == ()
    # the payload is exactly what model_sizes counts as packed; the rest is the JSON header
    header = struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert (
        path.stat().st_size - 8 - header
        == model_sizes(qmodel).packed
        == sum(t.numel() * t.element_size() for t in tensors.values())
    )


def _rewrite(path, tensors=None, meta=None):
    """Replace (None: delete) tensors and metadata fields of a packed file."""
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])["__metadata__"]
    out = load(data)
    out.update(tensors or {})
    header.update(meta or {})
    out = {k: v for k, v in out.items() if v is not None}
    if "sha256" not in (meta or {}):  # signed again: these files test the checks behind the checksum
        header["sha256"] = _checksum(header, out)
    path.write_bytes(save(out, metadata=header))


@pytest.mark.parametrize(
    "tensors, meta, message",
    [
        ({}, {"format": "other"}, "field 'format' must be 'autoq.packed'"),
        ({}, {"version": "1"}, "version '1' is not supported"),
        ({}, {"sha256": "0" * 64}, "checksum mismatch, the file is damaged; export it again"),
        ({"quant/conv1/bits": torch.full((8,), 9, dtype=torch.uint8)}, {}, "9 bits, outside"),
        ({"quant/conv1/scales": torch.ones(7)}, {}, "'quant/conv1/scales' is float32 \\[7\\], expected float32 \\[8\\]"),
        ({"quant/conv1/codes": None}, {}, "tensor 'quant/conv1/codes' is missing"),
        ({"quant/dw/act_scale": torch.tensor(-1.0)}, {}, "activation scale must be positive"),
        ({"extra": torch.zeros(1)}, {}, "unexpected tensor 'extra'"),
        ({}, {"layers": "{"}, "field 'layers' is not valid JSON"),
    ],
)
def test_loader_rejects_malformed_files(qmodel, net, tmp_path, tensors, meta, message):
    path = save_packed(qmodel, tmp_path / "m.safetensors")
    _rewrite(path, tensors, meta)
    with pytest.raises(AutoQError, match=message):
        load_packed(path, net)


@pytest.mark.parametrize("where", [0.5, 0.9, 0.999])
def test_one_flipped_payload_byte_is_refused(qmodel, net, tmp_path, where):
    path = save_packed(qmodel, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    header_end = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    i = header_end + int(where * (len(data) - header_end))
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(AutoQError, match="checksum mismatch"):
        load_packed(path, net)


def test_loader_rejects_policy_disagreeing_with_the_bits(qmodel, tmp_path):
    path = save_packed(qmodel, tmp_path / "m.safetensors")
    policy = read_packed(path).policy.to_dict()
    policy["layers"]["fc"]["weight_bits"][0] = (policy["layers"]["fc"]["weight_bits"][0] % 8) + 1
    _rewrite(path, meta={"policy": json.dumps(policy)})
    with pytest.raises(AutoQError, match="layer 'fc' differ from the stored ones"):
        read_packed(path)


def test_loader_rejects_another_architecture_and_other_files(qmodel, tmp_path):
    path = save_packed(qmodel, tmp_path / "m.safetensors")
    other = tiny_net()
    other.fc = torch.nn.Linear(72, 3)
    with pytest.raises(AutoQError, match="module 'fc' of the model does not match the stored linear \\[5, 72\\]"):
        load_packed(path, other)
    with pytest.raises(AutoQError, match="does not exist"):
        read_packed(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AutoQError, match="not a safetensors file"):
        read_packed(tmp_path / "junk.safetensors")
    assert read_packed(path).meta == {} and PACKED_FORMAT == "autoq.packed"
