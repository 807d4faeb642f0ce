"""QONNX export for the FINN flow: Quant nodes carry each group's bit width.

Per quantized layer ``L`` (input ``x``, output ``y``)::

    xq = Quant(x, L.act_scale, 0, L.act_bits; signed, narrow=signed)             -> tensor L/act_quant
    for each bit width b of L's kernels, ascending (the sorted tiles of the cost model):
        w_b = Quant(L.weight_b<b>, L.weight_scale_b<b>, 0, b; signed, narrow)    (BipolarQuant at 1 bit)
        y_b = Conv(xq, w_b) [+ L.bias_b<b>]        or MatMul(xq, w_b) [+ L.bias_b<b>] for a linear layer
    y = Gather(Concat(y_b...), L.unsort)          (the model's channel order; omitted when already sorted)

A layer whose kernels all have one bit width is one Quant and one Conv. Pruned kernels (0 bits) are
a Conv with an all-zero float weight. In a grouped convolution the kernels of one bit width come
from several groups: their input channels are gathered and each kernel becomes its own group.
Shapes are static (the example input's batch, 1 by default, as FINN expects); opset 11.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor, nn

from autoq.export.deployed import DeployedConv2d, DeployedLayer, deployed_layers
from autoq.export.graph import Builder, expand_layers, export_skeleton, safe_scales, set_metadata
from autoq.utils.io import atomic_write_bytes

if TYPE_CHECKING:
    import onnx

QONNX_DOMAIN = "qonnx.custom_op.general"
QONNX_OPSET = 11  # qonnx's preferred ONNX opset
ACT_QUANT = "act_quant"  # tensor LAYER/act_quant: a layer's quantized input (codes * scale)


def _f32(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def emit_layer_qonnx(b: Builder, layer: DeployedLayer, x: str, y: str) -> None:
    """The QONNX nodes of one quantized layer (see the module docstring)."""
    signed = int(layer.act_signed)
    xq = b.node(
        "Quant",
        [
            x,
            b.const("act_scale", _f32(layer.act_scale)),
            b.const("act_zero_point", _f32(0)),
            b.const("act_bits", _f32(layer.act_bits)),
        ],
        f"{b.tag}/{ACT_QUANT}",
        domain=QONNX_DOMAIN,
        signed=signed,
        narrow=signed,
        rounding_mode="ROUND",
    )
    conv = isinstance(layer, DeployedConv2d)
    bits = layer.bits.numpy().astype(np.int64)
    weight = layer.weight().numpy()
    order = np.argsort(bits, kind="stable")
    pieces = []
    for wb in np.unique(bits):
        idx = np.flatnonzero(bits == wb)
        whole = idx.size == layer.c_out
        tag = "" if whole else f"_b{wb}"
        w = weight[idx] if conv else np.ascontiguousarray(weight[idx].T)  # MatMul weight is [in, out]
        s = layer.scales.numpy()[idx].reshape((-1, 1, 1, 1) if conv else (1, -1))
        w_name = b.const(f"weight{tag}", w)
        if wb == 0:
            wq = w_name  # pruned: all zero, nothing to quantize
        elif wb == 1:
            wq = b.node("BipolarQuant", [w_name, b.const(f"weight_scale{tag}", _f32(s))], domain=QONNX_DOMAIN)
        else:
            wq = b.node(
                "Quant",
                [
                    w_name,
                    b.const(f"weight_scale{tag}", safe_scales(s)),
                    b.const("weight_zero_point", _f32(0)),
                    b.const(f"weight_bits{tag}", _f32(wb)),
                ],
                domain=QONNX_DOMAIN,
                signed=1,
                narrow=1,
                rounding_mode="ROUND",
            )
        out = y if whole else None
        acc_out = out if layer.bias is None else None
        acc = _emit_conv(b, layer, xq, wq, idx, tag, acc_out) if conv else b.node("MatMul", [xq, wq], acc_out)
        if layer.bias is not None:  # a separate Add, as in the ONNX export (and as FINN's streamlining expects)
            acc = b.node("Add", [acc, b.const(f"bias{tag}", layer.bias.numpy()[idx].reshape((-1, 1, 1) if conv else -1))], out)
        pieces.append(acc)
    if len(pieces) == 1:
        return
    axis = 1 if conv else -1
    cat = b.node("Concat", pieces, None, axis=axis)
    unsort = np.argsort(order).astype(np.int64)
    b.node("Gather", [cat, b.const("unsort", unsort)], y, axis=axis)


def _emit_conv(b: Builder, layer: DeployedConv2d, xq: str, wq: str, idx: np.ndarray, tag: str, out: str | None) -> str:
    """One bit-width group's Conv (``tag`` empty: the whole layer)."""
    whole = not tag
    attrs = dict(
        kernel_shape=list(layer.codes.shape[2:]),
        strides=list(layer.stride),
        pads=layer.explicit_pads(),
        dilations=list(layer.dilation),
    )
    if whole or layer.groups == 1:
        return b.node("Conv", [xq, wq], out, group=layer.groups if whole else 1, **attrs)
    cin_g = layer.codes.shape[1]
    group_of = idx // (layer.c_out // layer.groups)
    channels = (group_of[:, None] * cin_g + np.arange(cin_g)[None, :]).reshape(-1).astype(np.int64)
    xg = b.node("Gather", [xq, b.const(f"in_channels{tag}", channels)], axis=1)
    return b.node("Conv", [xg, wq], out, group=int(idx.size), **attrs)


def to_qonnx(
    model: nn.Module, example_input: Tensor, *, fold_bn: bool = True, meta: Mapping[str, Any] | None = None
) -> tuple[onnx.ModelProto, nn.Module]:
    """The QONNX model (shapes and quantized data types inferred by qonnx) and the deployed model."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    proto, deployed = export_skeleton(model, example_input, opset=QONNX_OPSET, dynamic_batch=False, fold_bn=fold_bn)
    expand_layers(proto, deployed_layers(deployed), emit_layer_qonnx, domains={QONNX_DOMAIN: 1})
    set_metadata(proto, deployed, "qonnx", dict(meta or {}))
    wrapper = ModelWrapper(proto).transform(InferShapes()).transform(InferDataTypes())
    return wrapper.model, deployed


def export_qonnx(
    model: nn.Module,
    path: str | os.PathLike,
    example_input: Tensor,
    *,
    fold_bn: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the QONNX model of ``model`` to ``path`` (atomically); the batch of ``example_input`` is fixed."""
    proto, _ = to_qonnx(model, example_input, fold_bn=fold_bn, meta=meta)
    atomic_write_bytes(path, proto.SerializeToString())
    return Path(path)


def run_qonnx(model: str | os.PathLike | onnx.ModelProto, x: Tensor | np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output and every intermediate tensor of a QONNX model under qonnx's own executor (node by node)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    wrapper = ModelWrapper(str(model) if isinstance(model, (str, os.PathLike)) else model, make_deepcopy=True)
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if wrapper.get_tensor_shape(wrapper.graph.input[0].name)[0] != arr.shape[0]:
        wrapper = wrapper.transform(ChangeBatchSize(arr.shape[0])).transform(InferShapes())
    ctx = execute_onnx(wrapper, {wrapper.graph.input[0].name: arr.astype(np.float32)}, return_full_exec_context=True)
    return ctx[wrapper.graph.output[0].name], ctx
