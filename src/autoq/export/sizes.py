"""Model size in bytes: the kernel-wise packed model against float32 and uniform 8-bit.

All three count the same deployed network (batch norms folded where they can be, see
:func:`autoq.export.deployed.freeze`):

- ``float32``: every weight and bias of the quantized layers at 4 bytes;
- ``uniform8``: every weight at 1 byte, plus a float32 scale per kernel, the bias and a float32
  activation scale per quantized layer;
- ``packed``: every kernel at its own bit width, bit-packed (``ceil(sum_o b_o * K / 8)`` bytes per
  layer), plus one byte of bit width and a float32 scale per kernel, the bias and the activation
  scale: exactly the tensor payload of the packed file (its JSON header comes on top);

and each adds the layers kept in float (their state-dict bytes). ``files`` holds the size on disk of
each export written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from autoq.export.deployed import deployed_layers, freeze
from autoq.export.packed import float_state, packed_nbytes


@dataclass
class ModelSizes:
    """Bytes of one network stored three ways, and of the exported files."""

    float32: int
    uniform8: int
    packed: int
    files: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per size: name, bytes, and the ratios to float32 and to uniform 8-bit."""
        sizes = {"float32": self.float32, "uniform 8-bit": self.uniform8, "packed (kernel-wise)": self.packed}
        sizes |= {f"{name} file": n for name, n in self.files.items()}
        return [
            {"size": name, "bytes": n, "vs_float32": n / self.float32, "vs_uniform8": n / self.uniform8}
            for name, n in sizes.items()
        ]

    def to_dict(self) -> dict:
        return {
            "float32": self.float32,
            "uniform8": self.uniform8,
            "packed": self.packed,
            "files": dict(self.files),
            "packed_vs_float32": self.packed / self.float32,
            "packed_vs_uniform8": self.packed / self.uniform8,
        }


def model_sizes(model: nn.Module, files: Mapping[str, str | os.PathLike] | None = None, *, fold_bn: bool = True) -> ModelSizes:
    """Sizes of a calibrated quantized (or deployed) ``model``; ``files`` maps an export name to its path."""

    deployed = freeze(model, fold_bn=fold_bn)
    f32 = u8 = packed = 0
    for layer in deployed_layers(deployed).values():
        n, c = layer.codes.numel(), layer.c_out
        side = (4 * c if layer.bias is not None else 0) + 4  # bias and activation scale
        f32 += 4 * n + (4 * c if layer.bias is not None else 0)
        u8 += n + 4 * c + side
        packed += packed_nbytes(layer.bits.numpy(), layer.kernel_numel) + 5 * c + side
    rest = sum(t.numel() * t.element_size() for t in float_state(deployed).values())
    on_disk = {name: Path(p).stat().st_size for name, p in (files or {}).items()}
    return ModelSizes(float32=f32 + rest, uniform8=u8 + rest, packed=packed + rest, files=on_disk)
