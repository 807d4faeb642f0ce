"""ONNX export in the QDQ form: QuantizeLinear / DequantizeLinear around every quantized layer.

Per quantized layer ``L`` (input ``x``, output ``y``)::

    x -> QuantizeLinear(L.act_scale, L.act_zero_point) -> [Clip(lo, hi)] -> DequantizeLinear -> xq
    L.weight_codes (int8) -> DequantizeLinear(L.weight_scale, axis=0) -> w        (per-kernel scales)
    conv:   y = Conv(xq, w) [+ Add(L.bias)]     (bias [c_out, 1, 1])
    linear: y = MatMul(xq, w) [+ Add(L.bias)]   (codes stored transposed, [in, out], scale axis 1)

Activations use uint8 (after a ReLU) or int8 (signed inputs); a ``b``-bit range smaller than the
type's is enforced by the integer ``Clip`` between the two nodes (round first, then clamp, as the
fake quantizer does). Weight codes below 8 bits are int8 values in their reduced range.

The bias is a float ``Add`` after the Conv, not the Conv's third input: ONNX Runtime's graph
optimiser rewrites a float Conv bias in a QDQ graph as int32 at scale ``act_scale * weight_scale``,
which changes the results at low activation bits; an Add it leaves as it is, so the model computes
the same with and without optimisations.

The activation codes are the tensor ``L/act_codes`` (checks read them). Outputs match PyTorch to
float rounding except where a rounding flip changes one code (see :mod:`autoq.export.verify`).
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

ONNX_OPSET = 13  # per-channel DequantizeLinear and integer Clip
ACT_CODES = "act_codes"  # tensor LAYER/act_codes: the integer activation codes of a layer's input


def emit_act_qdq(b: Builder, layer: DeployedLayer, x: str) -> str:
    """``x`` through the layer's activation quantizer, as Q -> [Clip] -> DQ."""
    lo, hi = layer.act_range()
    dtype = np.int8 if layer.act_signed else np.uint8
    info = np.iinfo(dtype)
    scale = b.const("act_scale", layer.act_scale.numpy().astype(np.float32))
    zero = b.const("act_zero_point", np.array(0, dtype=dtype))
    codes = f"{b.tag}/{ACT_CODES}"  # a stable name: checks read the codes from it
    clip = (lo, hi) != (info.min, info.max)
    q = b.node("QuantizeLinear", [x, scale, zero], None if clip else codes)
    if clip:
        b.node("Clip", [q, b.const("act_min", np.array(lo, dtype=dtype)), b.const("act_max", np.array(hi, dtype=dtype))], codes)
    return b.node("DequantizeLinear", [codes, scale, zero])


def emit_layer_onnx(b: Builder, layer: DeployedLayer, x: str, y: str) -> None:
    """The QDQ nodes of one quantized layer (see the module docstring)."""
    xq = emit_act_qdq(b, layer, x)
    scales = b.const("weight_scale", safe_scales(layer.scales))
    codes = layer.codes.numpy()
    if isinstance(layer, DeployedConv2d):
        w = b.node("DequantizeLinear", [b.const("weight_codes", codes), scales], axis=0)
        attrs = dict(
            kernel_shape=list(codes.shape[2:]),
            strides=list(layer.stride),
            pads=layer.explicit_pads(),
            dilations=list(layer.dilation),
            group=layer.groups,
        )
        if layer.bias is None:
            b.node("Conv", [xq, w], y, **attrs)
        else:
            b.node("Add", [b.node("Conv", [xq, w], **attrs), b.const("bias", layer.bias.numpy().reshape(-1, 1, 1))], y)
        return
    w = b.node("DequantizeLinear", [b.const("weight_codes", np.ascontiguousarray(codes.T)), scales], axis=1)
    if layer.bias is None:
        b.node("MatMul", [xq, w], y)
    else:
        b.node("Add", [b.node("MatMul", [xq, w]), b.const("bias", layer.bias.numpy())], y)


def to_onnx(
    model: nn.Module, example_input: Tensor, *, fold_bn: bool = True, meta: Mapping[str, Any] | None = None
) -> tuple[onnx.ModelProto, nn.Module]:
    """The QDQ ONNX model of a calibrated quantized (or deployed) model, checked by ``onnx.checker``, and the deployed model."""
    import onnx

    proto, deployed = export_skeleton(model, example_input, opset=ONNX_OPSET, dynamic_batch=True, fold_bn=fold_bn)
    expand_layers(proto, deployed_layers(deployed), emit_layer_onnx, domains={})
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    set_metadata(proto, deployed, "onnx-qdq", dict(meta or {}))
    onnx.checker.check_model(proto, full_check=True)
    return proto, deployed


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    example_input: Tensor,
    *,
    fold_bn: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the QDQ ONNX model of ``model`` to ``path`` (atomically); ``example_input`` fixes C, H, W."""
    proto, _ = to_onnx(model, example_input, fold_bn=fold_bn, meta=meta)
    atomic_write_bytes(path, proto.SerializeToString())
    return Path(path)


def run_onnxruntime(
    model: str | os.PathLike | onnx.ModelProto,
    x: Tensor | np.ndarray,
    *,
    all_outputs: bool = False,
    optimize: bool = True,
) -> Any:
    """Output of an exported model under ONNX Runtime on the CPU (with ``all_outputs``, every graph output).

    ``optimize`` runs ONNX Runtime's default graph optimisations, as a deployment would; off, the
    graph runs as written.
    """
    import onnxruntime as ort

    data = model.SerializeToString() if hasattr(model, "SerializeToString") else Path(model).read_bytes()
    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3  # no warnings about initializers its optimiser drops
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    outs = sess.run(None, {sess.get_inputs()[0].name: arr.astype(np.float32)})
    return outs if all_outputs else outs[0]
