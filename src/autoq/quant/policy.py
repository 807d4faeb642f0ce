"""A bit-width policy: one weight bit width per kernel and one activation bit width per layer.

Files are versioned JSON::

    {"format": "autoq.policy", "version": 1, "meta": {...},
     "layers": {"conv1": {"weight_bits": [8, 4, ...], "act_bits": 8}, ...}}

Loading validates every field and names the layer and field of the first problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autoq.errors import AutoQError
from autoq.utils.io import atomic_write_json

if TYPE_CHECKING:  # annotations only: reading and writing policies needs no torch
    from autoq.quant.discovery import LayerInfo

POLICY_FORMAT = "autoq.policy"
POLICY_VERSION = 1
WEIGHT_BITS_RANGE = (0, 8)  # 0 prunes a kernel
ACT_BITS_RANGE = (1, 8)


@dataclass
class Policy:
    """Per layer name (forward order): an int vector of kernel bit widths and the input activation bits."""

    weight_bits: dict[str, np.ndarray]
    act_bits: dict[str, int]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weight_bits = {k: np.asarray(v, dtype=np.int64).reshape(-1) for k, v in self.weight_bits.items()}
        self.act_bits = {k: int(v) for k, v in self.act_bits.items()}

    # construction -------------------------------------------------------------------------------
    @classmethod
    def uniform(cls, layers: Sequence[LayerInfo], weight_bits: int, act_bits: int) -> Policy:
        """Every kernel at ``weight_bits`` and every activation at ``act_bits``."""
        return cls.layerwise(layers, [weight_bits] * len(layers), [act_bits] * len(layers))

    @classmethod
    def layerwise(cls, layers: Sequence[LayerInfo], weight_bits: Sequence[int], act_bits: Sequence[int]) -> Policy:
        """One weight bit width per layer (all its kernels) and one activation bit width per layer."""
        if len(weight_bits) != len(layers) or len(act_bits) != len(layers):
            raise AutoQError(
                f"layer-wise policy needs {len(layers)} weight and activation bit widths, "
                f"got {len(weight_bits)} and {len(act_bits)}"
            )
        return cls(
            weight_bits={l.name: np.full(l.c_out, int(w), dtype=np.int64) for l, w in zip(layers, weight_bits)},
            act_bits={l.name: int(a) for l, a in zip(layers, act_bits)},
        )

    @classmethod
    def from_lists(cls, layers: Sequence[LayerInfo], weight_bits: Sequence[np.ndarray], act_bits: Sequence[int]) -> Policy:
        """The policy of per-layer bits given in the order of ``layers`` (the inverse of the ordered views)."""
        return cls({l.name: w for l, w in zip(layers, weight_bits)}, {l.name: a for l, a in zip(layers, act_bits)})

    @classmethod
    def parse_spec(cls, spec: str, layers: Sequence[LayerInfo]) -> Policy:
        """A policy from ``uniform:W:A`` or a JSON file path (validated against ``layers``)."""
        if spec.startswith("uniform:"):
            parts = spec.split(":")
            try:
                w, a = int(parts[1]), int(parts[2])
                if len(parts) != 3:
                    raise ValueError
            except (ValueError, IndexError):
                raise AutoQError(f"bad policy {spec!r}: write uniform:W:A, e.g. uniform:4:4") from None
            policy = cls.uniform(layers, w, a)
            policy.validate(layers)
            return policy
        return cls.load(spec, layers)

    def copy(self) -> Policy:
        return Policy({k: v.copy() for k, v in self.weight_bits.items()}, dict(self.act_bits), dict(self.meta))

    # ordered views ------------------------------------------------------------------------------
    def weight_list(self, layers: Iterable[LayerInfo]) -> list[np.ndarray]:
        """The kernel bit vectors of ``layers``, in their order (what agents and the cost model take)."""
        return [self.weight_bits[l.name] for l in layers]

    def act_list(self, layers: Iterable[LayerInfo]) -> list[int]:
        """The activation bits of ``layers``, in their order."""
        return [self.act_bits[l.name] for l in layers]

    # validation ---------------------------------------------------------------------------------
    def validate(
        self,
        layers: Sequence[LayerInfo],
        weight_range: tuple[int, int] = WEIGHT_BITS_RANGE,
        act_range: tuple[int, int] = ACT_BITS_RANGE,
    ) -> None:
        """Raise :class:`AutoQError` naming the layer and field unless this policy fits ``layers``."""
        names = [l.name for l in layers]
        for name in self.weight_bits.keys() | self.act_bits.keys():
            if name not in names:
                raise AutoQError(f"policy: unknown layer {name!r}: the model has no quantizable layer of that name")
        for layer in layers:
            if layer.name not in self.weight_bits:
                raise AutoQError(f"policy: layer {layer.name!r} is missing field 'weight_bits'")
            if layer.name not in self.act_bits:
                raise AutoQError(f"policy: layer {layer.name!r} is missing field 'act_bits'")
            w = self.weight_bits[layer.name]
            if w.shape != (layer.c_out,):
                raise AutoQError(
                    f"policy: layer {layer.name!r} field 'weight_bits' has {w.size} entries, the layer has {layer.c_out} kernels"
                )
            self._check_ranges(layer.name, weight_range, act_range)

    def _check_ranges(
        self, name: str, weight_range: tuple[int, int] = WEIGHT_BITS_RANGE, act_range: tuple[int, int] = ACT_BITS_RANGE
    ) -> None:
        w = self.weight_bits[name]
        lo, hi = weight_range
        if w.size and (w.min() < lo or w.max() > hi):
            bad = int(w[(w < lo) | (w > hi)][0])
            raise AutoQError(f"policy: layer {name!r} field 'weight_bits' has {bad}, outside [{lo}, {hi}]")
        lo, hi = act_range
        a = self.act_bits[name]
        if not lo <= a <= hi:
            raise AutoQError(f"policy: layer {name!r} field 'act_bits' is {a}, outside [{lo}, {hi}]")

    # statistics ---------------------------------------------------------------------------------
    def avg_weight_bits(self, layers: Sequence[LayerInfo], by: str = "params") -> float:
        """Mean kernel bit width, each kernel weighted by its weights (``params``) or its MACs (``macs``)."""
        num = den = 0.0
        for l in layers:
            per_kernel = l.kernel_numel * (1 if by == "params" else l.out_hw[0] * l.out_hw[1] * l.calls)
            num += float(self.weight_bits[l.name].sum()) * per_kernel
            den += l.c_out * per_kernel
        return num / den if den else 0.0

    def avg_act_bits(self, layers: Sequence[LayerInfo], by: str = "macs") -> float:
        """Mean activation bit width, each layer weighted by its weights or its MACs."""
        weights = np.array([l.params if by == "params" else l.macs * l.calls for l in layers], dtype=float)
        bits = np.array([self.act_bits[l.name] for l in layers], dtype=float)
        return float((weights * bits).sum() / weights.sum()) if weights.sum() else 0.0

    def size_bits(self, layers: Sequence[LayerInfo]) -> int:
        """Storage of the quantized weights in bits (scales and biases excluded)."""
        return int(sum(int(self.weight_bits[l.name].sum()) * l.kernel_numel for l in layers))

    # files --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": POLICY_FORMAT,
            "version": POLICY_VERSION,
            "meta": self.meta,
            "layers": {
                name: {"weight_bits": self.weight_bits[name].tolist(), "act_bits": self.act_bits[name]}
                for name in self.weight_bits
            },
        }

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, layers: Sequence[LayerInfo] | None = None, source: str = "policy") -> Policy:
        """Parse and type-check a policy document; with ``layers``, also check it fits the model."""
        if not isinstance(data, Mapping):
            raise AutoQError(f"{source}: not a policy file (expected a JSON object)")
        if data.get("format") != POLICY_FORMAT:
            raise AutoQError(f"{source}: field 'format' must be {POLICY_FORMAT!r}")
        if data.get("version") != POLICY_VERSION:
            raise AutoQError(
                f"{source}: policy version {data.get('version')!r} is not supported (this autoq reads version {POLICY_VERSION})"
            )
        entries = data.get("layers")
        if not isinstance(entries, Mapping):
            raise AutoQError(f"{source}: field 'layers' must be an object of layer name -> bits")
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise AutoQError(f"{source}: field 'meta' must be an object")
        weight_bits, act_bits = {}, {}
        for name, entry in entries.items():
            if not isinstance(entry, Mapping):
                raise AutoQError(f"{source}: layer {name!r} must be an object with 'weight_bits' and 'act_bits'")
            extra = set(entry) - {"weight_bits", "act_bits"}
            if extra:
                raise AutoQError(f"{source}: layer {name!r} has unknown field {sorted(extra)[0]!r}")
            for key in ("weight_bits", "act_bits"):
                if key not in entry:
                    raise AutoQError(f"{source}: layer {name!r} is missing field {key!r}")
            w = entry["weight_bits"]
            if not isinstance(w, list) or not all(_is_int(b) for b in w):
                raise AutoQError(f"{source}: layer {name!r} field 'weight_bits' must be a list of integers")
            if not _is_int(entry["act_bits"]):
                raise AutoQError(f"{source}: layer {name!r} field 'act_bits' must be an integer")
            weight_bits[name] = np.array(w, dtype=np.int64)
            act_bits[name] = int(entry["act_bits"])
        policy = cls(weight_bits, act_bits, dict(meta))
        try:
            if layers is not None:
                policy.validate(layers)
                return policy.ordered(layers)
            for name in policy.weight_bits:
                policy._check_ranges(name)
        except AutoQError as e:
            raise AutoQError(str(e).replace("policy:", f"{source}:", 1)) from None
        return policy

    @classmethod
    def load(cls, path: str | os.PathLike, layers: Sequence[LayerInfo] | None = None) -> Policy:
        """Read and validate a policy file; see :meth:`from_dict`."""
        path = Path(path)
        if path.is_dir():
            raise AutoQError(f"policy file {str(path)!r} is a folder, not a file")
        if not path.is_file():
            raise AutoQError(f"policy file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise AutoQError(f"cannot read policy file {str(path)!r} ({e.strerror}); check its permissions") from None
        except RecursionError:
            raise AutoQError(f"{path}: nested too deeply to be a policy file") from None
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, and integers of thousands of digits
            raise AutoQError(f"{path}: not valid JSON ({str(e).splitlines()[0]})") from None
        return cls.from_dict(data, layers, source=str(path))

    def ordered(self, layers: Iterable[LayerInfo]) -> Policy:
        """The same policy with its layers in the order of ``layers``."""
        names = [l.name for l in layers]
        return Policy({n: self.weight_bits[n] for n in names}, {n: self.act_bits[n] for n in names}, self.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (
            list(self.weight_bits) == list(other.weight_bits)
            and all(np.array_equal(self.weight_bits[k], other.weight_bits[k]) for k in self.weight_bits)
            and self.act_bits == other.act_bits
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
