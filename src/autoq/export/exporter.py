"""Export one calibrated quantized model to several formats, check each and count the bytes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.export.deployed import deployed_policy, freeze
from autoq.export.onnx import to_onnx
from autoq.export.packed import save_packed
from autoq.export.qonnx import to_qonnx
from autoq.export.sizes import ModelSizes, model_sizes
from autoq.export.verify import Agreement, check_onnx, check_packed, check_qonnx
from autoq.quant.policy import Policy
from autoq.utils.io import atomic_write_bytes

log = logging.getLogger(__name__)

FORMATS = ("packed", "onnx", "qonnx")
FILE_NAMES = {"packed": "model.packed.safetensors", "onnx": "model.onnx", "qonnx": "model.qonnx.onnx"}
QONNX_CHECK_IMAGES = 8  # qonnx executes node by node (one ONNX Runtime session per node): keep it short


@dataclass
class ExportResult:
    """The files written, their check against PyTorch (when inputs were given) and the sizes."""

    out_dir: Path
    files: dict[str, Path]
    sizes: ModelSizes
    checks: dict[str, Agreement] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "files": {k: str(v) for k, v in self.files.items()},
            "sizes": self.sizes.to_dict(),
            "checks": {k: v.to_dict() for k, v in self.checks.items()},
        }


def export_model(
    qmodel: nn.Module,
    out_dir: str | Path,
    example_input: Tensor,
    *,
    formats: Sequence[str] = FORMATS,
    check_input: Tensor | None = None,
    architecture: nn.Module | None = None,
    fold_bn: bool = True,
    policy: Policy | None = None,
    meta: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write ``formats`` of a calibrated quantized model into ``out_dir`` (plus ``policy.json``).

    ``example_input`` fixes the input shape (its batch is the QONNX batch). With ``check_input``,
    each export is run on those images and compared with the deployed PyTorch model; the packed
    file is loaded onto ``architecture`` (default: ``qmodel``) for that.
    """

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AutoQError(f"unknown export format {unknown[0]!r}; use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    deployed = freeze(qmodel, fold_bn=fold_bn)
    policy = policy if policy is not None else deployed_policy(deployed)
    meta = dict(meta or {}) | {"fold_bn": fold_bn}
    files: dict[str, Path] = {}
    checks: dict[str, Agreement] = {}
    x = check_input.detach().cpu().float() if check_input is not None else None
    for fmt in formats:
        path = out_dir / FILE_NAMES[fmt]
        if fmt == "packed":
            save_packed(deployed, path, policy=policy, meta=meta)
            if x is not None:
                checks[fmt] = check_packed(path, architecture if architecture is not None else qmodel, deployed, x)
        else:
            build = to_onnx if fmt == "onnx" else to_qonnx
            example = example_input[:1] if fmt == "onnx" else example_input
            proto, _ = build(deployed, example, meta=meta)
            atomic_write_bytes(path, proto.SerializeToString())
            if x is not None:
                check = check_onnx if fmt == "onnx" else check_qonnx
                checks[fmt] = check(proto, deployed, x if fmt == "onnx" else x[:QONNX_CHECK_IMAGES])
        files[fmt] = path
        log.debug("wrote %s", path)
    policy.save(out_dir / "policy.json")
    return ExportResult(out_dir, files, model_sizes(deployed, files), checks)
