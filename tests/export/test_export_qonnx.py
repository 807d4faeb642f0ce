"""QONNX export: Quant nodes per bit-width group, validated and executed with qonnx's own tooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_models import inputs, quantized, random_policy, tiny_net
from onnx import helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.cleanup import cleanup_model

from autoq.export import check_qonnx, export_qonnx, run_qonnx, to_qonnx
from autoq.export.qonnx import QONNX_DOMAIN


@pytest.fixture(scope="module")
def exported():
    net = tiny_net()
    q = quantized(net, random_policy(net, seed=5, w_bits=(0, 8), a_bits=(2, 8)))
    proto, deployed = to_qonnx(q, inputs(1))
    return q, proto, deployed


def _attr(node, name):
    return next(helper.get_attribute_value(a) for a in node.attribute if a.name == name)


def _init(model, name):
    return numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == name))


def test_one_quant_per_bit_width_group_in_ascending_order(exported):
    _, proto, deployed = exported
    for name in ("conv1", "conv2", "dw", "fc"):
        layer = deployed.get_submodule(name)
        bits = layer.bits.numpy().astype(int)
        nodes = [n for n in proto.graph.node if n.name.startswith(f"{name}/")]
        weight_quants = [n for n in nodes if n.op_type in ("Quant", "BipolarQuant") and n.input[0].startswith(f"{name}.weight")]
        groups = [b for b in np.unique(bits) if b > 0]
        assert len(weight_quants) == len(groups)
        for node, b in zip(weight_quants, groups):  # ascending: the order of the sorted tiles
            assert node.domain == QONNX_DOMAIN
            if b == 1:
                assert node.op_type == "BipolarQuant"
            else:
                assert node.op_type == "Quant" and _init(proto, node.input[3]) == b
                assert (_attr(node, "signed"), _attr(node, "narrow")) == (1, 1)
            assert _init(proto, node.input[0]).shape[0 if layer.kind == "conv2d" else 1] == (bits == b).sum()
        act = next(n for n in nodes if n.output[0] == f"{name}/act_quant")
        assert _init(proto, act.input[3]) == layer.act_bits
        assert (_attr(act, "signed"), _attr(act, "narrow")) == (int(layer.act_signed),) * 2
        if len(np.unique(bits)) > 1:  # kernels sorted by bits, then put back in the model's order
            gather = next(
                n for n in nodes if n.op_type == "Gather" and n.output[0] != n.input[0] and n.input[1] == f"{name}.unsort"
            )
            np.testing.assert_array_equal(np.argsort(_init(proto, gather.input[1])), np.argsort(bits, kind="stable"))


def test_qonnx_tooling_accepts_the_graph(exported):
    _, proto, deployed = exported
    model = cleanup_model(ModelWrapper(proto, make_deepcopy=True))
    model = model.transform(InferShapes()).transform(InferDataTypes(allow_scaledint_dtypes=True))
    assert model.check_all_tensor_shapes_specified()
    weight_types = set()
    for node in model.graph.node:
        if node.op_type in ("Conv", "MatMul"):
            producer = model.find_producer(node.input[1])
            if producer is not None and producer.op_type == "Quant":
                bits = int(model.get_initializer(producer.input[3]))
                assert model.get_tensor_datatype(node.input[1]).get_canonical_name() == f"SCALEDINT<{bits}>"
                weight_types.add(bits)
    assert weight_types  # every multi-bit group reaches its Conv / MatMul as a scaled integer of its width


def test_qonnx_execution_matches_pytorch(exported, tmp_path):
    q, _, deployed = exported
    path = export_qonnx(q, tmp_path / "m.qonnx.onnx", inputs(1))
    x = inputs(6, seed=11)
    y, _ = run_qonnx(path, x)  # a different batch than exported: qonnx changes it
    with torch.no_grad():
        ref = deployed(x).numpy()
    assert y.shape == ref.shape
    agreement = check_qonnx(path, deployed, x)
    assert agreement.ok() and agreement.forced_rel_error < 1e-5 and agreement.top1_agreement == 1.0


def test_uniform_layer_is_a_single_quant_and_conv():
    net = tiny_net()
    policy = random_policy(net, seed=0)
    for name in policy.weight_bits:
        policy.weight_bits[name][:] = 4
    proto, deployed = to_qonnx(quantized(net, policy), inputs(1))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Quant") == 8 and "Gather" not in ops and "Concat" not in ops
    assert check_qonnx(proto, deployed, inputs(4, seed=12)).ok()


class Reused(torch.nn.Module):
    """One conv applied twice: both calls share its bits and initializers."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3 * 12 * 12, 4)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(torch.relu(self.conv(x)))), 1))


def test_a_layer_called_twice_is_expanded_per_call():
    from autoq.export import check_onnx, to_onnx

    torch.manual_seed(0)
    net = Reused().eval()
    policy = random_policy(net, seed=6, a_bits=(5, 8))
    q = quantized(net, policy)
    x = inputs(8, seed=13)
    for build, check in ((to_onnx, check_onnx), (to_qonnx, check_qonnx)):
        proto, deployed = build(q, inputs(1))
        names = {n.name.split("/")[0] for n in proto.graph.node if "/" in n.name}
        assert {"conv", "conv#2"} <= names
        assert sum(t.name == "conv.act_scale" for t in proto.graph.initializer) == 1
        agreement = check(proto, deployed, x)
        assert agreement.ok() and agreement.forced_rel_error < 1e-5


@pytest.mark.slow
def test_real_images_resnet20(cifar10_npz, resnet20_weights):
    """ResNet-20 with two or three bit widths per layer: qonnx executes it like PyTorch."""
    from autoq.models import create_model
    from autoq.quant import apply_policy, calibrate, discover_layers
    from autoq.quant.policy import Policy

    data = np.load(cifar10_npz)
    x = torch.from_numpy(data["x_test"][:68]).float().div(255).permute(0, 3, 1, 2)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net = create_model("resnet20", weights=str(resnet20_weights)).eval()
    layers = discover_layers(net, x[:1]).layers
    rng = np.random.default_rng(1)
    policy = Policy({l.name: rng.choice([2, 4, 6], l.c_out) for l in layers}, {l.name: 6 for l in layers})
    q = apply_policy(net, policy)
    calibrate(q, [x[:64]])
    proto, deployed = to_qonnx(q, x[:1])
    quants = [n for n in proto.graph.node if n.op_type == "Quant" and ".weight" in n.input[0]]
    assert len(quants) == sum(len(np.unique(b)) for b in policy.weight_bits.values())
    agreement = check_qonnx(proto, deployed, x[64:])
    assert agreement.ok() and agreement.forced_rel_error < 1e-4 and agreement.top1_agreement == 1.0
