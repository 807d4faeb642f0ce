"""The ONNX skeleton shared by the ONNX (QDQ) and QONNX exports.

The deployed model is exported once with PyTorch's TorchScript-based ONNX exporter, each deployed
layer standing as one placeholder node ``autoq::QuantLayer(x) -> y``; everything else (ReLU, adds,
pooling, reshapes) is PyTorch's own export. Each format then replaces the placeholders with its own
nodes (:func:`expand_layers`), so the two formats differ only in how a quantized layer is written.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.export.deployed import DeployedLayer, deployed_layers, deployed_policy, freeze

if TYPE_CHECKING:
    import onnx

STUB_DOMAIN = "autoq"
STUB_OP = "QuantLayer"
INPUT_NAME = "input"
OUTPUT_NAME = "output"

_EXPORTING: dict[str, DeployedLayer] = {}  # export_id -> layer, only while torch.onnx.export runs
_SHAPES: dict[str, list[int]] = {}  # export_id -> traced output shape


class _LayerStub(torch.autograd.Function):
    """Runs the layer while tracing; exports as one placeholder node named after the layer."""

    @staticmethod
    def forward(ctx, x: Tensor, codes: Tensor, scales: Tensor, bias: Tensor | None, export_id: str) -> Tensor:
        y = _EXPORTING[export_id].compute(x, codes, scales, bias)
        _SHAPES[export_id] = list(y.shape)
        return y

    @staticmethod
    def symbolic(g, x, codes, scales, bias, export_id: str):
        y = g.op(f"{STUB_DOMAIN}::{STUB_OP}", x, layer_s=export_id)
        # the exporter's shape inference cannot see inside the placeholder: give it the traced shape
        y.setType(x.type().with_sizes([None] + _SHAPES[export_id][1:]))
        return y


def layer_stub(layer: DeployedLayer, x: Tensor) -> Tensor:
    """The layer's output, recorded as a placeholder node (called from ``DeployedLayer.forward``)."""
    return _LayerStub.apply(x, layer.codes, layer.scales, layer.bias, layer.export_id)


@contextlib.contextmanager
def _stubbed(model: nn.Module) -> Iterator[dict[str, DeployedLayer]]:
    layers = deployed_layers(model)
    for name, layer in layers.items():
        layer.export_id = name
        _EXPORTING[name] = layer
    try:
        yield layers
    finally:
        for name, layer in layers.items():
            layer.export_id = None
            _EXPORTING.pop(name, None)
            _SHAPES.pop(name, None)


def export_skeleton(
    model: nn.Module, example_input: Tensor, *, opset: int, dynamic_batch: bool, fold_bn: bool = True
) -> tuple[onnx.ModelProto, nn.Module]:
    """The ONNX graph of ``model`` with one placeholder per quantized layer, and the deployed model."""
    import onnx

    deployed = freeze(model, fold_bn=fold_bn)
    x = example_input.detach().cpu().float()
    buf = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with _stubbed(deployed), torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of torch.export; it is the one that keeps
        # placeholder nodes cheap and fast, and this torch version (pinned) has it
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # the activation scale is read as a Python float on purpose: a constant of the graph
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module="autoq")
        # strided slices (e.g. option-A shortcuts) stay as Slice nodes: correct, only not pre-computed
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        try:
            torch.onnx.export(
                deployed,
                (x,),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                custom_opsets={STUB_DOMAIN: 1},
            )
        except AutoQError:
            raise
        except Exception as e:
            raise AutoQError(f"the model could not be exported to ONNX ({type(e).__name__}: {e})") from e
    proto = onnx.load_from_string(buf.getvalue())
    fold_constants(proto)
    return proto, deployed


def fold_constants(proto: onnx.ModelProto) -> None:
    """Replace every standard node whose inputs are all constant by an initializer, in place.

    The TorchScript exporter leaves small shape computations (e.g. the pads of ``F.pad``) as chains
    of Constant / ConstantOfShape / Concat / Reshape nodes; folded, the graph keeps only real work
    and every shape is static for shape inference (qonnx's included).
    """
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = proto.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    opset = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    kept, folded = [], []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or not all(i in values for i in node.input if i):
            kept.append(node)
            continue
        single = helper.make_model(
            helper.make_graph([node], "fold", [], [helper.make_tensor_value_info(o, 0, None) for o in node.output]),
            opset_imports=opset,
        )
        feeds = {i: values[i] for i in node.input if i}
        for name, value in zip(node.output, ReferenceEvaluator(single).run(None, feeds)):
            values[name] = np.asarray(value)
            folded.append(name)
    used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    graph.initializer.extend(numpy_helper.from_array(values[n], n) for n in folded if n in used)
    del graph.node[:]
    graph.node.extend(kept)


@dataclass
class Builder:
    """Nodes and initializers replacing one placeholder.

    Initializers are named ``LAYER.suffix`` and shared by every call of a reused layer; nodes and
    intermediate tensors are named ``TAG/Op_n``, ``TAG`` being the layer name (``#k`` for its k-th call).
    """

    layer: str
    tag: str
    inits: dict[str, onnx.TensorProto]
    nodes: list = field(default_factory=list)

    def const(self, suffix: str, value: np.ndarray) -> str:
        """Name of the initializer ``LAYER.suffix`` holding ``value`` (created on first use)."""
        from onnx import numpy_helper

        name = f"{self.layer}.{suffix}"
        if name not in self.inits:
            value = np.asarray(value)
            # ascontiguousarray would turn a 0-d scalar into shape [1]
            self.inits[name] = numpy_helper.from_array(value if value.flags.c_contiguous else value.copy(order="C"), name)
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, domain: str = "", **attrs) -> str:
        """Add a node; returns its (single) output name."""
        from onnx import helper

        name = f"{self.tag}/{op}_{len(self.nodes)}"
        out = output or name
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out


Emitter = Callable[[Builder, DeployedLayer, str, str], None]


def expand_layers(
    proto: onnx.ModelProto, layers: dict[str, DeployedLayer], emit: Emitter, domains: dict[str, int]
) -> onnx.ModelProto:
    """Replace every placeholder by the nodes ``emit(builder, layer, x, y)`` writes, in place.

    ``domains`` are the custom opsets the emitted nodes use. Unused initializers (the tensors PyTorch
    attached to the placeholders) are dropped, and so are the old intermediate shapes: the caller
    infers them again.
    """
    from onnx import helper

    graph = proto.graph
    inits: dict[str, onnx.TensorProto] = {}
    calls: dict[str, int] = {}
    new_nodes = []
    for node in graph.node:
        if not (node.domain == STUB_DOMAIN and node.op_type == STUB_OP):
            new_nodes.append(node)
            continue
        name = helper.get_attribute_value(node.attribute[0]).decode()
        calls[name] = calls.get(name, 0) + 1
        b = Builder(name, name if calls[name] == 1 else f"{name}#{calls[name]}", inits)
        emit(b, layers[name], node.input[0], node.output[0])
        new_nodes.extend(b.nodes)
    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(inits.values())
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    kept_inputs = [i for i in graph.input if i.name in used or i.name == INPUT_NAME]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    del graph.value_info[:]
    opsets = [o for o in proto.opset_import if o.domain not in (STUB_DOMAIN, *domains)]
    del proto.opset_import[:]
    proto.opset_import.extend(opsets + [helper.make_opsetid(d, v) for d, v in domains.items()])
    return proto


def set_metadata(proto: onnx.ModelProto, model: nn.Module, fmt: str, meta: dict | None) -> None:
    """Record the export format, the policy and the folded batch norms in the model's metadata."""
    layers = deployed_layers(model)
    props = {
        "autoq.format": fmt,
        "autoq.policy": json.dumps(deployed_policy(model).to_dict()),
        "autoq.folded_bn": json.dumps({n: l.folded_bn for n, l in layers.items() if l.folded_bn}),
        "autoq.meta": json.dumps(dict(meta or {})),
    }
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "autoq"


def safe_scales(scales: Tensor | np.ndarray) -> np.ndarray:
    """Per-kernel scales with 0 replaced by 1 (those kernels' codes are all 0), so no op divides by 0."""
    s = np.asarray(scales, dtype=np.float32)
    return np.where(s > 0, s, np.float32(1.0))
