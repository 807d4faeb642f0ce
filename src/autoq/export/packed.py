"""The packed format: bit-packed integer weight codes per kernel, in one safetensors file.

A file holds a deployed model (:func:`autoq.export.deployed.freeze`): for each quantized layer ``L``

- ``quant/L/codes``  uint8 [ceil(sum_o bits[o] * K / 8)]: every kernel's ``K`` codes at its own bit width;
- ``quant/L/bits``   uint8 [c_out]: bit width of each kernel (0 = pruned, nothing stored);
- ``quant/L/scales`` float32 [c_out]: weight = code * scale (batch norm folded in when ``folded_bn``);
- ``quant/L/bias``   float32 [c_out], present when the layer has a bias (always after folding);
- ``quant/L/act_scale`` float32 []: input activation step;

plus ``float/KEY`` for every other entry of the model's state dict (layers kept in float). The
metadata carries ``format``, ``version``, ``layers`` (geometry and activation bits per layer, JSON),
``policy`` (the policy file, JSON) and ``meta`` (JSON). docs/export.md is the full specification.

Bit stream of a layer: kernels in order, each kernel's codes in C order of ``weight[o]``; a ``b``-bit
code is ``b`` consecutive bits, least significant bit first; bit ``j`` of the stream is bit ``j % 8``
of byte ``j // 8``. Codes at ``b >= 2`` bits are two's complement in ``[-(2^(b-1)-1), 2^(b-1)-1]``;
a 1-bit code is 1 for +1 and 0 for -1. The last byte is padded with zero bits.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.export.deployed import (
    DeployedConv2d,
    DeployedLayer,
    DeployedLinear,
    deployed_layers,
    deployed_policy,
    freeze,
    set_submodule,
)
from autoq.quant.policy import Policy
from autoq.utils.digest import tensors_digest
from autoq.utils.io import atomic_write_bytes

PACKED_FORMAT = "autoq.packed"
PACKED_VERSION = 2  # 2: the header carries a sha256 of the header fields and every tensor
MAX_BITS = 8
_FIELDS = ("codes", "bits", "scales", "bias", "act_scale")


# bit packing --------------------------------------------------------------------------------------


def packed_nbytes(bits: np.ndarray, kernel_numel: int) -> int:
    """Bytes of the bit stream of kernels with widths ``bits`` and ``kernel_numel`` codes each."""
    return math.ceil(int(np.asarray(bits, dtype=np.int64).sum()) * kernel_numel / 8)


def _layout(bits: np.ndarray, kernel_numel: int) -> tuple[np.ndarray, np.ndarray]:
    """Width and first stream bit of every code, in stream order."""
    widths = np.repeat(np.asarray(bits, dtype=np.int64), kernel_numel)
    return widths, np.cumsum(widths) - widths


def pack_codes(codes: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Pack integer codes ``[c_out, K]`` (kernel ``o`` at ``bits[o]`` bits) into a uint8 bit stream."""
    codes = np.asarray(codes, dtype=np.int64).reshape(len(bits), -1)
    bits = np.asarray(bits, dtype=np.int64)
    widths, start = _layout(bits, codes.shape[1])
    flat = codes.reshape(-1)
    # two's complement field of width b; the 1-bit code maps -1 -> 0 and +1 -> 1
    field = np.where(widths == 1, (flat > 0).astype(np.int64), flat & ((1 << widths) - 1))
    stream = np.zeros(int(widths.sum()) + (-int(widths.sum())) % 8, dtype=np.uint8)
    for j in range(MAX_BITS):
        m = widths > j
        stream[start[m] + j] = (field[m] >> j) & 1
    return np.packbits(stream, bitorder="little")


def unpack_codes(stream: np.ndarray, bits: np.ndarray, kernel_numel: int, where: str = "codes") -> np.ndarray:
    """Inverse of :func:`pack_codes`: int8 codes ``[c_out, K]``; raises if the stream is malformed."""
    bits = np.asarray(bits, dtype=np.int64)
    stream = np.asarray(stream, dtype=np.uint8).reshape(-1)
    expected = packed_nbytes(bits, kernel_numel)
    if stream.size != expected:
        raise AutoQError(f"{where}: {stream.size} bytes, the bit widths need {expected}")
    widths, start = _layout(bits, kernel_numel)
    total = int(widths.sum())
    unpacked = np.unpackbits(stream, bitorder="little")
    if unpacked[total:].any():
        raise AutoQError(f"{where}: the padding bits after the last code are not zero")
    field = np.zeros(widths.size, dtype=np.int64)
    for j in range(MAX_BITS):
        m = widths > j
        field[m] |= unpacked[start[m] + j].astype(np.int64) << j
    half = np.left_shift(1, np.maximum(widths - 1, 0))
    codes = np.where(widths == 1, 2 * field - 1, np.where(field >= half, field - (half << 1), field))
    codes = np.where(widths == 0, 0, codes)
    if ((widths >= 2) & (codes == -half)).any():
        raise AutoQError(f"{where}: a code is -2^(b-1), outside the symmetric range -(2^(b-1)-1)..2^(b-1)-1")
    return codes.reshape(len(bits), kernel_numel).astype(np.int8)


# writing ------------------------------------------------------------------------------------------


def packed_tensors(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and the layer records of the packed form of a deployed ``model``."""
    layers = deployed_layers(model)
    tensors: dict[str, Tensor] = {}
    records: dict[str, Any] = {}
    for name, layer in layers.items():
        bits = layer.bits.numpy()
        stream = pack_codes(layer.codes.reshape(layer.c_out, -1).numpy(), bits)
        tensors[f"quant/{name}/codes"] = torch.from_numpy(stream)
        tensors[f"quant/{name}/bits"] = layer.bits.clone()
        tensors[f"quant/{name}/scales"] = layer.scales.clone()
        if layer.bias is not None:
            tensors[f"quant/{name}/bias"] = layer.bias.clone()
        tensors[f"quant/{name}/act_scale"] = layer.act_scale.clone()
        records[name] = layer.describe()
    for key, value in float_state(model).items():
        tensors[f"float/{key}"] = value.detach().cpu().clone().contiguous()
    return tensors, records


def float_state(model: nn.Module) -> dict[str, Tensor]:
    """State-dict entries of ``model`` outside its deployed layers (layers kept in float)."""
    prefixes = tuple(f"{name}." for name in deployed_layers(model))
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}


def save_packed(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    policy: Policy | None = None,
    meta: Mapping[str, Any] | None = None,
    fold_bn: bool = True,
) -> Path:
    """Write ``model`` (quantized and calibrated, or already deployed) to ``path`` in the packed format.

    The policy defaults to the bits the model carries; ``meta`` is free-form JSON (model name, weights).
    """

    deployed = freeze(model, fold_bn=fold_bn)
    tensors, records = packed_tensors(deployed)
    policy = policy if policy is not None else deployed_policy(deployed)
    header = {
        "format": PACKED_FORMAT,
        "version": str(PACKED_VERSION),
        "layers": json.dumps(records),
        "policy": json.dumps(policy.to_dict()),
        "meta": json.dumps(dict(meta or {})),
    }
    header["sha256"] = _checksum(header, tensors)
    atomic_write_bytes(path, save(tensors, metadata=header))
    return Path(path)


# reading ------------------------------------------------------------------------------------------


@dataclass
class PackedModel:
    """A decoded packed file: deployed layers by name, the float state, the policy and the metadata."""

    layers: dict[str, DeployedLayer]
    float_state: dict[str, Tensor]
    policy: Policy
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def folded(self) -> dict[str, str]:
        """``{batch-norm name: layer name}`` of the batch norms folded into a layer."""
        return {l.folded_bn: n for n, l in self.layers.items() if l.folded_bn}


def _checksum(header: Mapping[str, str], tensors: Mapping[str, Tensor]) -> str:
    """sha256 of the header fields (but the checksum) and of every tensor, in name order."""

    h = hashlib.sha256(json.dumps({k: v for k, v in header.items() if k != "sha256"}, sort_keys=True).encode())
    return tensors_digest(sorted(tensors.items()), h)


def _json_field(header: Mapping[str, str], key: str, where: str) -> Any:
    if key not in header:
        raise AutoQError(f"{where}: metadata field {key!r} is missing")
    try:
        return json.loads(header[key])
    except json.JSONDecodeError as e:
        raise AutoQError(f"{where}: metadata field {key!r} is not valid JSON ({e})") from None


def _int_list(v: Any, n: int | None = None) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v) and (n is None or len(v) == n)


def _check_record(name: str, rec: Any, where: str) -> None:
    if not isinstance(rec, dict):
        raise AutoQError(f"{where}: layer {name!r} record must be a JSON object")
    kind = rec.get("kind")
    if kind not in ("conv2d", "linear"):
        raise AutoQError(f"{where}: layer {name!r} has kind {kind!r}; expected 'conv2d' or 'linear'")
    ndim = 4 if kind == "conv2d" else 2
    shape = rec.get("weight_shape")
    if not _int_list(shape, ndim) or min(shape) <= 0:
        raise AutoQError(f"{where}: layer {name!r} field 'weight_shape' must be {ndim} positive integers")
    act_bits = rec.get("act_bits")
    if not isinstance(act_bits, int) or isinstance(act_bits, bool) or not 1 <= act_bits <= MAX_BITS:
        raise AutoQError(f"{where}: layer {name!r} field 'act_bits' must be an integer in [1, {MAX_BITS}]")
    for key in ("act_signed", "has_bias"):
        if not isinstance(rec.get(key), bool):
            raise AutoQError(f"{where}: layer {name!r} field {key!r} must be true or false")
    if rec.get("folded_bn") is not None and not isinstance(rec["folded_bn"], str):
        raise AutoQError(f"{where}: layer {name!r} field 'folded_bn' must be a module name or null")
    if kind == "conv2d":
        for key in ("stride", "dilation"):
            if not _int_list(rec.get(key), 2):
                raise AutoQError(f"{where}: layer {name!r} field {key!r} must be two integers")
        pad = rec.get("padding")
        if not (_int_list(pad, 2) or pad in ("same", "valid")):
            raise AutoQError(f"{where}: layer {name!r} field 'padding' must be two integers, 'same' or 'valid'")
        groups = rec.get("groups")
        if not isinstance(groups, int) or groups <= 0 or shape[0] % groups:
            raise AutoQError(f"{where}: layer {name!r} field 'groups' must divide the {shape[0]} kernels")


def _tensor(tensors: Mapping[str, Tensor], key: str, dtype: torch.dtype, shape: tuple[int, ...], where: str) -> Tensor:
    if key not in tensors:
        raise AutoQError(f"{where}: tensor {key!r} is missing")
    t = tensors[key]
    if t.dtype != dtype or tuple(t.shape) != shape:
        raise AutoQError(
            f"{where}: tensor {key!r} is {str(t.dtype).removeprefix('torch.')} {list(t.shape)}, "
            f"expected {str(dtype).removeprefix('torch.')} {list(shape)}"
        )
    return t


def _decode_layer(name: str, rec: dict, tensors: Mapping[str, Tensor], where: str) -> DeployedLayer:
    shape = tuple(rec["weight_shape"])
    c_out, k = shape[0], math.prod(shape[1:])
    p = f"quant/{name}/"
    bits = _tensor(tensors, p + "bits", torch.uint8, (c_out,), where)
    if int(bits.max()) > MAX_BITS:
        raise AutoQError(f"{where}: layer {name!r} has a kernel at {int(bits.max())} bits, outside [0, {MAX_BITS}]")
    scales = _tensor(tensors, p + "scales", torch.float32, (c_out,), where)
    if not torch.isfinite(scales).all() or (scales < 0).any():
        raise AutoQError(f"{where}: layer {name!r} has a negative or non-finite kernel scale")
    stream = _tensor(tensors, p + "codes", torch.uint8, (packed_nbytes(bits.numpy(), k),), where)
    codes = unpack_codes(stream.numpy(), bits.numpy(), k, where=f"{where}: layer {name!r} codes")
    bias = _tensor(tensors, p + "bias", torch.float32, (c_out,), where) if rec["has_bias"] else None
    if not rec["has_bias"] and p + "bias" in tensors:
        raise AutoQError(f"{where}: layer {name!r} has a bias tensor but its record says has_bias: false")
    act_scale = _tensor(tensors, p + "act_scale", torch.float32, (), where)
    if not (torch.isfinite(act_scale) and act_scale > 0):
        raise AutoQError(f"{where}: layer {name!r} activation scale must be positive and finite")
    common = dict(
        codes=torch.from_numpy(codes).reshape(shape),
        scales=scales,
        bits=bits,
        bias=bias,
        act_scale=float(act_scale),
        act_bits=rec["act_bits"],
        act_signed=rec["act_signed"],
        folded_bn=rec.get("folded_bn"),
    )
    try:
        if rec["kind"] == "conv2d":
            pad = rec["padding"]
            return DeployedConv2d(**common, stride=rec["stride"], padding=pad, dilation=rec["dilation"], groups=rec["groups"])
        return DeployedLinear(**common)
    except AutoQError as e:
        raise AutoQError(f"{where}: layer {name!r}: {e}") from None


def read_packed(path: str | os.PathLike) -> PackedModel:
    """Read and validate a packed file (format, version, every record, shape, dtype and bit range)."""

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise AutoQError(f"packed model {where!r} does not exist")
    try:
        with safe_open(path, framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise AutoQError(f"{where}: not a safetensors file ({e})") from None
    if header.get("format") != PACKED_FORMAT:
        raise AutoQError(f"{where}: metadata field 'format' must be {PACKED_FORMAT!r} (is this an autoq packed export?)")
    if header.get("version") != str(PACKED_VERSION):
        raise AutoQError(
            f"{where}: packed format version {header.get('version')!r} is not supported "
            f"(this autoq reads version {PACKED_VERSION})"
        )
    if header.get("sha256") != _checksum(header, tensors):
        raise AutoQError(f"{where}: checksum mismatch, the file is damaged; export it again")
    records = _json_field(header, "layers", where)
    if not isinstance(records, dict) or not records:
        raise AutoQError(f"{where}: metadata field 'layers' must be a non-empty JSON object")
    meta = _json_field(header, "meta", where)
    if not isinstance(meta, dict):
        raise AutoQError(f"{where}: metadata field 'meta' must be a JSON object")
    policy = Policy.from_dict(_json_field(header, "policy", where), source=f"{where} policy")
    layers = {}
    for name, rec in records.items():
        _check_record(name, rec, where)
        layers[name] = _decode_layer(name, rec, tensors, where)
        if name not in policy.weight_bits or not np.array_equal(policy.weight_bits[name], layers[name].bits.numpy()):
            raise AutoQError(f"{where}: the policy's kernel bit widths of layer {name!r} differ from the stored ones")
    known = {f"quant/{n}/{f}" for n in records for f in _FIELDS}
    unknown = [k for k in tensors if k not in known and not k.startswith("float/")]
    if unknown:
        raise AutoQError(f"{where}: unexpected tensor {unknown[0]!r}")
    floats = {k.removeprefix("float/"): v for k, v in tensors.items() if k.startswith("float/")}
    return PackedModel(layers=layers, float_state=floats, policy=policy, meta=meta)


def _check_target(name: str, module: nn.Module | None, layer: DeployedLayer, where: str) -> None:
    """The architecture's module ``name`` must be a conv / linear of the stored geometry."""
    if module is None:
        raise AutoQError(f"{where}: the model has no module {name!r}: pass the architecture the file was exported from")
    shape = list(layer.codes.shape)
    if isinstance(layer, DeployedConv2d):
        if isinstance(module, DeployedConv2d):
            ok = list(module.codes.shape) == shape
        else:
            ok = (
                isinstance(module, nn.Conv2d)
                and list(module.weight.shape) == shape
                and (tuple(module.stride), tuple(module.dilation), module.groups) == (layer.stride, layer.dilation, layer.groups)
            )
    elif isinstance(module, DeployedLinear):
        ok = list(module.codes.shape) == shape
    else:
        ok = isinstance(module, nn.Linear) and list(module.weight.shape) == shape
    if not ok:
        raise AutoQError(f"{where}: module {name!r} of the model does not match the stored {layer.kind} {shape}")


def load_packed(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Rebuild the deployed model from a packed file onto ``model``'s architecture (left untouched).

    ``model`` is the float (or quantized) network the file was exported from; its weights are not
    used: every tensor comes from the file, and every state-dict entry must be accounted for.
    """
    packed = read_packed(path)
    where = str(path)
    out = copy.deepcopy(model).cpu().eval()
    modules = dict(out.named_modules())
    for name, layer in packed.layers.items():
        _check_target(name, modules.get(name), layer, where)
        if layer.folded_bn is not None:
            bn = modules.get(layer.folded_bn)
            if not isinstance(bn, (nn.BatchNorm2d, nn.Identity)):
                raise AutoQError(f"{where}: folded batch norm {layer.folded_bn!r} is not a BatchNorm2d of the model")
            set_submodule(out, layer.folded_bn, nn.Identity())
        set_submodule(out, name, layer)
    expected = float_state(out)
    missing = [k for k in expected if k not in packed.float_state]
    extra = [k for k in packed.float_state if k not in expected]
    if missing or extra:
        what = f"lacks float tensor {missing[0]!r}" if missing else f"has float tensor {extra[0]!r} the model does not"
        raise AutoQError(f"{where}: the file {what}: pass the architecture the file was exported from")
    for k, v in packed.float_state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise AutoQError(f"{where}: float tensor {k!r} is {list(v.shape)}, the model's is {list(expected[k].shape)}")
    out.load_state_dict(packed.float_state, strict=False)
    return out
