"""Accelerator descriptions: dataclasses loaded from YAML, validated, with the built-in boards.

Two kinds exist: ``temporal`` (bit-serial, BISMO-like) and ``spatial`` (bit-fusion, BitFusion-like).
A description holds the array, the memory system, energy per event, the resource model and the
target device. Units are in the field names (``_mhz``, ``_pj``, ``_w``, ``_kb``, ``_bits``...).

A YAML file must give every field of its kind (unknown keys are errors) unless it names a built-in
as ``base:``; then it only lists the keys that differ. ``description`` and ``weights_on_chip`` are
optional everywhere. See ``docs/hardware-models.md``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from autoq.errors import AutoQError
from autoq.utils.registry import Registry
from autoq.utils.yamlsafe import load_yaml_file

BOARDS_DIR = Path(__file__).resolve().parent / "boards"
BRAM36_BUFFER_BITS = 32 * 1024  # a BRAM36 used as a 32-bit-wide buffer holds 32 Kibit (parity unused)

#: built-in accelerator name -> YAML file
ACCELERATORS: Registry[Path] = Registry("accelerator")
ACCELERATORS.add("temporal", BOARDS_DIR / "temporal.yaml")
ACCELERATORS.add("spatial", BOARDS_DIR / "spatial.yaml")


@dataclass(frozen=True)
class Accelerator:
    """Fields shared by both kinds. Every number is checked when the object is built."""

    kind: ClassVar[str] = ""

    name: str
    clock_mhz: float
    max_bits: int  # widest weight / activation precision the array runs
    # energy
    wbuf_pj_per_bit: float  # weight buffer read
    ibuf_pj_per_bit: float  # activation buffer read
    obuf_pj_per_bit: float  # output / result buffer access
    dram_pj_per_bit: float
    static_power_w: float
    kappa: float  # FPGA / 45 nm factor on compute and buffer energy (not DRAM)
    # resources outside the array model, and DSP slices used
    lut_overhead: int
    ff_overhead: int
    dsp: int
    # device
    device: str
    device_lut: int
    device_ff: int
    device_bram36: int
    device_dsp: int
    bram36_bits: int  # bits of weight storage per BRAM36 in the utilisation term
    description: str = ""
    # True: the quantized weights stay resident in on-chip BRAM (their storage counts in the area);
    # False (default): they stream from DRAM, as the latency model assumes, and the area is the
    # accelerator's own
    weights_on_chip: bool = False

    _nonneg: ClassVar[tuple[str, ...]] = ("static_power_w", "lut_overhead", "ff_overhead", "dsp")
    _positive: ClassVar[tuple[str, ...]] = (
        "clock_mhz",
        "wbuf_pj_per_bit",
        "ibuf_pj_per_bit",
        "obuf_pj_per_bit",
        "dram_pj_per_bit",
        "kappa",
        "device_lut",
        "device_ff",
        "device_bram36",
        "device_dsp",
        "bram36_bits",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.weights_on_chip, bool):
            raise AutoQError(f"accelerator {self.name!r}: 'weights_on_chip' must be true or false, got {self.weights_on_chip!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", "float") and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise AutoQError(f"accelerator {self.name!r}: {f.name!r} must be a number, got {v!r}")
            if f.type == "int" and not (isinstance(v, int) or float(v).is_integer()):
                raise AutoQError(f"accelerator {self.name!r}: {f.name!r} must be an integer, got {v!r}")
            if f.type == "int":
                object.__setattr__(self, f.name, int(v))
            elif f.type == "float":
                if not math.isfinite(v):
                    raise AutoQError(f"accelerator {self.name!r}: {f.name!r} must be finite, got {v!r}")
                object.__setattr__(self, f.name, float(v))
        for name in self._positive:
            if getattr(self, name) <= 0:
                raise AutoQError(f"accelerator {self.name!r}: {name!r} must be positive, got {getattr(self, name)!r}")
        for name in self._nonneg:
            if getattr(self, name) < 0:
                raise AutoQError(f"accelerator {self.name!r}: {name!r} must be >= 0, got {getattr(self, name)!r}")
        self._check_bits()

    def _check_bits(self) -> None:
        raise NotImplementedError

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    def resources(self) -> dict[str, int]:
        """The accelerator's own LUT, FF, BRAM36 and DSP (weight storage excluded)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def replace(self, **changes: Any) -> Accelerator:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TemporalAccelerator(Accelerator):
    """Bit-serial ``dm x dk x dn`` array (BISMO): precision is a run-time loop count, not area."""

    kind: ClassVar[str] = "temporal"

    dm: int = 0  # weight rows (kernels per tile)
    dk: int = 0  # bits of one dot product per cycle
    dn: int = 0  # activation rows (output positions per tile)
    lmem_words: int = 0  # weight buffer depth per row, dk-bit words
    rmem_words: int = 0  # activation buffer depth per row, dk-bit words
    read_bits_per_cycle: int = 0
    write_bits_per_cycle: int = 0
    exec_overhead_cycles: int = 0  # o_exec per execute instruction
    binop_pj: float = 0.0  # one binary AND-popcount op
    lut_per_dpu_bit: float = 0.0
    lut_per_dpu: float = 0.0
    ff_per_dpu_bit: float = 0.0
    ff_per_dpu: float = 0.0

    _positive = Accelerator._positive + (
        "dm",
        "dk",
        "dn",
        "lmem_words",
        "rmem_words",
        "read_bits_per_cycle",
        "write_bits_per_cycle",
        "binop_pj",
    )
    _nonneg = Accelerator._nonneg + (
        "exec_overhead_cycles",
        "lut_per_dpu_bit",
        "lut_per_dpu",
        "ff_per_dpu_bit",
        "ff_per_dpu",
    )

    def _check_bits(self) -> None:
        # bit-serial: any precision is a loop count; results accumulate in 32 bits
        if not 1 <= self.max_bits <= 32:
            raise AutoQError(f"accelerator {self.name!r}: 'max_bits' is {self.max_bits}; a bit-serial array runs 1 to 32 bits")

    @property
    def weight_buffer_bits(self) -> int:
        return self.dm * self.lmem_words * self.dk

    @property
    def peak_binary_ops_per_s(self) -> float:
        """``2·Dm·Dn·Dk·f``: AND and popcount-add per bit pair, every cycle."""
        return 2.0 * self.dm * self.dn * self.dk * self.clock_hz

    def resources(self) -> dict[str, int]:
        dpus = self.dm * self.dn
        return {
            "lut": round(dpus * (self.lut_per_dpu_bit * self.dk + self.lut_per_dpu)) + self.lut_overhead,
            "ff": round(dpus * (self.ff_per_dpu_bit * self.dk + self.ff_per_dpu)) + self.ff_overhead,
            # BISMO's model: (Dk/32) BRAM columns for each of the Dm + Dn row buffers of depth LMEM / RMEM
            "bram36": math.ceil(self.dk / 32)
            * (self.dm * math.ceil(self.lmem_words / 1024) + self.dn * math.ceil(self.rmem_words / 1024)),
            "dsp": self.dsp,
        }


@dataclass(frozen=True)
class SpatialAccelerator(Accelerator):
    """``rows_n x cols_m`` array of fusion units built from 2-bit bricks (BitFusion)."""

    kind: ClassVar[str] = "spatial"
    BRICK_BITS: ClassVar[int] = 2

    rows_n: int = 0  # reduction lanes
    cols_m: int = 0  # output channels (kernels per tile)
    fusible: bool = True  # False: fixed-precision units always at max_bits
    interface_bits_per_cycle: int = 0  # DRAM bandwidth, reads and writes together
    wbuf_kb: int = 0
    ibuf_kb: int = 0
    obuf_kb: int = 0
    unit_pj: float = 0.0  # one 8x8 fusion-unit cycle
    lut_per_unit: float = 0.0  # fusible 8-bit unit
    ff_per_unit: float = 0.0
    area_exponent: float = 0.0
    fusion_area_factor: float = 0.0

    _positive = Accelerator._positive + (
        "rows_n",
        "cols_m",
        "interface_bits_per_cycle",
        "wbuf_kb",
        "ibuf_kb",
        "obuf_kb",
        "unit_pj",
        "lut_per_unit",
        "fusion_area_factor",
    )
    _nonneg = Accelerator._nonneg + ("ff_per_unit", "area_exponent")

    def _check_bits(self) -> None:
        if not isinstance(self.fusible, bool):
            raise AutoQError(f"accelerator {self.name!r}: 'fusible' must be true or false, got {self.fusible!r}")
        if self.max_bits not in (2, 4, 8):
            raise AutoQError(
                f"accelerator {self.name!r}: 'max_bits' is {self.max_bits}; fusion units fuse 2-bit bricks to 2, 4 or 8 bits"
            )

    def run_bits(self, bits: int) -> int:
        """``r(b)``: the precision a ``b``-bit operand runs at (1,2->2; 3,4->4; 5..8->8), 0 for 0."""
        if bits <= 0:
            return 0
        if not self.fusible:
            return self.max_bits
        r = self.BRICK_BITS
        while r < bits:
            r *= 2
        return r

    def resources(self) -> dict[str, int]:
        units = self.rows_n * self.cols_m
        lut_unit = self.lut_per_unit * (self.max_bits / 8) ** self.area_exponent
        if not self.fusible:
            lut_unit /= self.fusion_area_factor
        buffers = sum(math.ceil(kb * 8192 / BRAM36_BUFFER_BITS) for kb in (self.wbuf_kb, self.ibuf_kb, self.obuf_kb))
        return {
            "lut": round(units * lut_unit) + self.lut_overhead,
            "ff": round(units * self.ff_per_unit) + self.ff_overhead,
            "bram36": buffers,
            "dsp": self.dsp,
        }


OPTIONAL_KEYS = ("description", "weights_on_chip")
KINDS: dict[str, type[Accelerator]] = {"temporal": TemporalAccelerator, "spatial": SpatialAccelerator}


def _read_yaml(path: Path) -> dict[str, Any]:
    data = load_yaml_file(path, "accelerator file")  # strict: duplicate keys and alias bombs refused
    if not isinstance(data, Mapping):
        raise AutoQError(f"{path}: an accelerator file must be a YAML mapping of key: value")
    return dict(data)


def accelerator_from_dict(data: Mapping[str, Any], source: str = "accelerator") -> Accelerator:
    """Build and validate an accelerator from a mapping (the parsed YAML).

    ``base: NAME`` starts from a built-in and overrides the keys given; otherwise every key of the
    kind is required. Raises :class:`AutoQError` naming ``source`` and the key at fault.
    """
    data = dict(data)
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or base not in ACCELERATORS:
            raise AutoQError(f"{source}: 'base' must be one of {', '.join(ACCELERATORS.names())}, got {base!r}")
        merged = _read_yaml(ACCELERATORS.get(base))
        if "kind" in data and data["kind"] != merged["kind"]:
            raise AutoQError(f"{source}: 'kind' {data['kind']!r} differs from its base {base!r}")
        merged.update(data)
        data = merged
    kind = data.pop("kind", None)
    if not isinstance(kind, str) or kind not in KINDS:
        raise AutoQError(f"{source}: 'kind' must be 'temporal' or 'spatial', got {kind!r}")
    cls = KINDS[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AutoQError(f"{source}: unknown key {unknown[0]!r} for a {kind} accelerator (known: {', '.join(sorted(known))})")
    missing = sorted(f.name for f in fields(cls) if f.name not in data and f.name not in OPTIONAL_KEYS)
    if missing:
        raise AutoQError(f"{source}: missing key {missing[0]!r} (write every key, or start from `base: {kind}`)")
    for f in fields(cls):
        v = data.get(f.name)
        if f.type == "str" and f.name in data and not isinstance(v, str):
            data[f.name] = str(v)
        if f.type == "bool" and f.name in data and not isinstance(v, bool):
            raise AutoQError(f"{source}: {f.name!r} must be true or false, got {v!r}")
        if f.type in ("int", "float") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise AutoQError(f"{source}: {f.name!r} must be a number, got {v!r}")
        if f.type in ("int", "float") and not math.isfinite(v):
            raise AutoQError(f"{source}: {f.name!r} must be a finite number, got {v!r}")
    try:
        return cls(**data)
    except AutoQError as e:
        raise AutoQError(str(e).replace(f"accelerator {data.get('name')!r}", source, 1)) from None


def load_accelerator(spec: str | os.PathLike[str] | Accelerator) -> Accelerator:
    """An accelerator from a built-in name (``temporal``, ``spatial``) or a YAML file path."""
    if isinstance(spec, Accelerator):
        return spec
    text = os.fspath(spec)
    if text in ACCELERATORS:
        path = ACCELERATORS.get(text)
    else:
        path = Path(text)
        if not path.is_file():
            raise AutoQError(f"accelerator {text!r} is neither a built-in ({', '.join(ACCELERATORS.names())}) nor a YAML file")
    return accelerator_from_dict(_read_yaml(path), source=str(path) if text not in ACCELERATORS else text)
