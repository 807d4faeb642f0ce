"""ONNX (QDQ) export: graph structure, and ONNX Runtime against PyTorch on small and real models."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from export_models import inputs, quantized, random_policy, tiny_net
from onnx import numpy_helper

from autoq.export import check_onnx, export_onnx, freeze, run_onnxruntime, to_onnx


@pytest.fixture(scope="module")
def exported():
    net = tiny_net()
    q = quantized(net, random_policy(net, seed=4, a_bits=(2, 8), prune=True))
    proto, deployed = to_onnx(q, inputs(1))
    return q, proto, deployed


def _init(proto, name):
    return numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == name))


def test_graph_has_per_kernel_qdq_weights_and_reduced_range_activations(exported):
    q, proto, deployed = exported
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") == 4 and ops.count("DequantizeLinear") == 8  # 4 layers: activation + weight
    assert "BatchNormalization" in ops  # bn3 (after a ReLU) stays a float layer
    assert ops.count("BatchNormalization") == 1
    for name, layer in [(n, deployed.get_submodule(n)) for n in ("conv1", "conv2", "dw", "fc")]:
        codes = _init(proto, f"{name}.weight_codes")
        assert codes.dtype == np.int8
        per_kernel = codes if layer.kind == "conv2d" else codes.T
        bits = layer.bits.numpy().astype(int)
        qmax = np.where(bits >= 2, 2 ** (np.maximum(bits, 1) - 1) - 1, bits)  # 1 bit: +-1, 0 bits: 0
        assert (np.abs(per_kernel.reshape(len(bits), -1)).max(1) <= qmax).all()
        np.testing.assert_array_equal(per_kernel, layer.codes.numpy())
        scale = _init(proto, f"{name}.weight_scale")
        assert scale.shape == (layer.c_out,) and (scale > 0).all()
        dq = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == f"{name}.weight_codes")
        assert dq.attribute[0].name == "axis" and dq.attribute[0].i == (0 if layer.kind == "conv2d" else 1)
        lo, hi = layer.act_range()
        clip = [n for n in proto.graph.node if n.op_type == "Clip" and n.output[0] == f"{name}/act_codes"]
        full = (lo, hi) == ((-128, 127) if layer.act_signed else (0, 255))
        assert len(clip) == (0 if full else 1)
        if clip:
            assert (_init(proto, clip[0].input[1]), _init(proto, clip[0].input[2])) == (lo, hi)
        assert _init(proto, f"{name}.act_zero_point").dtype == (np.int8 if layer.act_signed else np.uint8)
        assert _init(proto, f"{name}.act_scale").shape == ()
    for conv in (n for n in proto.graph.node if n.op_type == "Conv"):
        assert len(conv.input) == 2  # the bias is a separate Add (see test_optimised_onnxruntime_computes_the_same)
    assert _init(proto, "conv2.bias").shape == (8, 1, 1)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["autoq.format"] == "onnx-qdq" and '"conv1": "bn1"' in props["autoq.folded_bn"]


def test_onnxruntime_matches_pytorch(exported, tmp_path):
    q, _, deployed = exported
    path = export_onnx(q, tmp_path / "m.onnx", inputs(1))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = inputs(48, seed=7)
    with torch.no_grad():
        ref = deployed(x).numpy()
    got = run_onnxruntime(path, x)  # dynamic batch
    assert got.shape == ref.shape and np.median(np.abs(got - ref).max(1) / np.abs(ref).max(1)) < 1e-6
    agreement = check_onnx(path, deployed, x)
    assert agreement.ok() and agreement.forced_rel_error < 1e-5 and agreement.top1_agreement == 1.0


def test_optimised_onnxruntime_computes_the_same():
    """ONNX Runtime's optimiser rewrites a float Conv bias of a QDQ graph as int32 at act_scale * weight_scale
    (on this model that moves the outputs by about 10 %); written as an Add, the bias is left alone."""
    from autoq.quant import Policy, apply_policy, calibrate, discover_layers

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 144, 5),
    ).eval()
    net[3].running_mean.uniform_(-0.5, 0.5)
    net[3].bias.data.uniform_(-0.3, 0.3)
    q = apply_policy(net, Policy.uniform(discover_layers(net, inputs(1)).layers, 4, 4))
    calibrate(q, [inputs(64)])
    proto, _ = to_onnx(q, inputs(1))
    x = inputs(32, seed=10)
    optimised, as_written = run_onnxruntime(proto, x, optimize=True), run_onnxruntime(proto, x, optimize=False)
    assert np.abs(optimised - as_written).max() < 1e-5 * np.abs(as_written).max()


def test_unfolded_export_matches_the_fake_quantized_model(exported):
    q, _, _ = exported
    proto, deployed = to_onnx(q, inputs(1), fold_bn=False)
    assert sum(n.op_type == "BatchNormalization" for n in proto.graph.node) == 3
    x = inputs(32, seed=8)
    with torch.no_grad():
        assert torch.equal(deployed(x), q(x))
    assert check_onnx(proto, deployed, x).ok()


def test_check_catches_a_wrong_activation_range(exported):
    q, proto, deployed = exported
    broken = onnx.ModelProto()
    broken.CopyFrom(proto)
    for t in broken.graph.initializer:
        if t.name == "conv2.act_scale":  # a scale off by 3 %: many codes move
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(1.03), t.name))
    bad = check_onnx(broken, deployed, inputs(32, seed=9))
    assert not bad.ok() and bad.code_mismatch > 1e-2


@pytest.mark.slow
def test_real_images_resnet20(cifar10_npz, resnet20_weights):
    """ResNet-20 on CIFAR-10 test images, a kernel-wise policy: ONNX Runtime against PyTorch."""
    from autoq.models import create_model
    from autoq.quant import apply_policy, calibrate, discover_layers
    from autoq.quant.policy import Policy

    data = np.load(cifar10_npz)
    x = torch.from_numpy(data["x_test"][:160]).float().div(255).permute(0, 3, 1, 2)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net = create_model("resnet20", weights=str(resnet20_weights)).eval()
    layers = discover_layers(net, x[:1]).layers
    rng = np.random.default_rng(0)
    policy = Policy({l.name: rng.integers(3, 9, l.c_out) for l in layers}, {l.name: int(rng.integers(4, 9)) for l in layers})
    q = apply_policy(net, policy)
    calibrate(q, [x[:64]])
    proto, deployed = to_onnx(q, x[:1])
    test = x[64:]
    agreement = check_onnx(proto, deployed, test)
    # every layer fed the same codes: within 1e-4 relative on every image
    assert agreement.forced_rel_error < 1e-4
    # free-running, the rare rounding flips move single codes by one step only
    assert agreement.ok() and agreement.max_code_step <= 1 and agreement.code_mismatch < 1e-4
    assert agreement.median_rel_error < 1e-5 and agreement.top1_agreement >= 0.98
    with torch.no_grad():
        labels = torch.from_numpy(data["y_test"][64:160]).long()
        assert (deployed(test).argmax(1) == labels).float().mean() > 0.8  # a working quantized ResNet-20
    free = freeze(q, fold_bn=False)
    assert torch.equal(free(test[:8]), q(test[:8]).detach())
