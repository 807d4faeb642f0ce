"""Check an export against the deployed PyTorch model on real inputs.

A quantized network is discontinuous: two engines that sum a convolution in different orders differ
by float rounding, and now and then that moves a value across an activation rounding boundary, so
one activation code differs by one step and the difference propagates. Free-running outputs can
therefore differ by more than rounding on some images without anything being wrong. The check
separates the two causes: it compares the activation codes every quantized layer sees (flips are
rare and exactly one step; a wrong scale, range or rounding mode changes many codes or by more), and
it runs PyTorch *teacher-forced*, every quantized layer fed the export's codes, which must then
match the export's output to float rounding.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from autoq.export.deployed import DeployedLayer, deployed_layers
from autoq.export.onnx import ACT_CODES, run_onnxruntime
from autoq.export.packed import load_packed
from autoq.export.qonnx import ACT_QUANT, run_qonnx

if TYPE_CHECKING:
    import onnx

MAX_CODE_MISMATCH = 1e-3  # flips are rounding events: far rarer than this on real data


@dataclass
class Agreement:
    """How an export's outputs compare with the deployed PyTorch model on ``images`` inputs."""

    format: str
    images: int
    max_rel_error: float  # free-running, worst image: max|y_export - y_torch| / max|y_torch|
    median_rel_error: float  # free-running, median image
    top1_agreement: float  # fraction of images with the same arg-max
    forced_rel_error: float  # teacher-forced, worst image
    code_mismatch: float  # fraction of activation codes that differ
    max_code_step: int  # largest activation code difference (1 = a flip at a rounding boundary)

    def ok(self, tol: float = 1e-4) -> bool:
        """Same function: teacher-forced outputs within ``tol`` and only rare one-step code flips."""
        return self.forced_rel_error <= tol and self.max_code_step <= 1 and self.code_mismatch <= MAX_CODE_MISMATCH

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok()}


def _rel_errors(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per image: max |y - ref| / max |ref|."""
    n = ref.shape[0]
    diff = np.abs(y.reshape(n, -1).astype(np.float64) - ref.reshape(n, -1))
    return diff.max(axis=1) / np.maximum(np.abs(ref.reshape(n, -1)).max(axis=1), 1e-30)


def _codes(layer: DeployedLayer, x: Tensor) -> Tensor:
    """The integer activation codes ``layer`` gives input ``x``."""
    return torch.round(layer.quant_input(x) / layer.act_scale)


def run_torch(
    model: nn.Module, x: Tensor, forced: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output and activation codes per layer call (``LAYER`` or ``LAYER#k``) of a deployed model.

    With ``forced``, each layer call named there is fed those codes instead of its own input; the
    codes returned are still the ones its own input would have given.
    """
    seen: dict[str, np.ndarray] = {}
    calls: dict[str, int] = {}
    hooks = []

    def pre_hook(name: str) -> Callable:
        def fn(layer: DeployedLayer, inputs: tuple) -> tuple | None:
            calls[name] = calls.get(name, 0) + 1
            tag = name if calls[name] == 1 else f"{name}#{calls[name]}"
            seen[tag] = _codes(layer, inputs[0]).numpy()
            if forced is not None and tag in forced:
                return (torch.from_numpy(np.asarray(forced[tag], dtype=np.float32)) * layer.act_scale,)
            return None

        return fn

    for name, layer in deployed_layers(model).items():
        hooks.append(layer.register_forward_pre_hook(pre_hook(name)))
    try:
        with torch.no_grad():
            y = model(x.detach().cpu().float())
    finally:
        for h in hooks:
            h.remove()
    return y.numpy(), seen


def compare(fmt: str, model: nn.Module, x: Tensor, y_export: np.ndarray, codes_export: dict[str, np.ndarray]) -> Agreement:
    """Agreement of an export's output and activation codes with the deployed ``model`` on ``x``."""
    y_ref, _ = run_torch(model, x)
    y_forced, codes_forced = run_torch(model, x, forced=codes_export)
    mismatch = total = 0
    step = 0
    for tag, c in codes_export.items():
        diff = np.abs(np.asarray(c, dtype=np.int64) - codes_forced[tag].astype(np.int64))
        mismatch += int((diff > 0).sum())
        total += diff.size
        step = max(step, int(diff.max()) if diff.size else 0)
    free = _rel_errors(y_export, y_ref)
    return Agreement(
        format=fmt,
        images=int(x.shape[0]),
        max_rel_error=float(free.max()),
        median_rel_error=float(np.median(free)),
        top1_agreement=float((y_export.reshape(len(free), -1).argmax(1) == y_ref.reshape(len(free), -1).argmax(1)).mean()),
        forced_rel_error=float(_rel_errors(y_export, y_forced).max()),
        code_mismatch=mismatch / max(total, 1),
        max_code_step=step,
    )


def check_packed(path: str | os.PathLike, architecture: nn.Module, model: nn.Module, x: Tensor) -> Agreement:
    """Load a packed file onto ``architecture`` and compare it with the deployed ``model``."""

    y, codes = run_torch(load_packed(path, architecture), x)
    return compare("packed", model, x, y, codes)


def check_onnx(proto: onnx.ModelProto | str | os.PathLike, model: nn.Module, x: Tensor) -> Agreement:
    """Run a QDQ export under ONNX Runtime and compare it with the deployed ``model``."""
    import onnx

    proto = copy.deepcopy(proto) if isinstance(proto, onnx.ModelProto) else onnx.load(str(proto))
    infos = {v.name: v for v in proto.graph.value_info}
    names = [v for v in infos if v.endswith(f"/{ACT_CODES}")]
    proto.graph.output.extend(infos[n] for n in names)
    outs = run_onnxruntime(proto, x, all_outputs=True)
    codes = {n.removesuffix(f"/{ACT_CODES}"): outs[i + 1] for i, n in enumerate(names)}
    return compare("onnx", model, x, outs[0], codes)


def check_qonnx(proto: onnx.ModelProto | str | os.PathLike, model: nn.Module, x: Tensor) -> Agreement:
    """Run a QONNX export with qonnx's executor and compare it with the deployed ``model``."""

    y, ctx = run_qonnx(proto, x)
    layers = deployed_layers(model)
    codes = {}
    for name, value in ctx.items():
        if name.endswith(f"/{ACT_QUANT}"):
            tag = name.removesuffix(f"/{ACT_QUANT}")
            codes[tag] = np.round(value / layers[tag.split("#")[0]].act_scale.numpy())
    return compare("qonnx", model, x, y, codes)
