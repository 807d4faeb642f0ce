"""Accelerator descriptions: built-in boards, YAML loading and validation, resource models."""

from __future__ import annotations

import pytest
import yaml

from autoq.errors import AutoQError
from autoq.hardware import (
    ACCELERATORS,
    SpatialAccelerator,
    TemporalAccelerator,
    accelerator_from_dict,
    load_accelerator,
)


def test_builtins_load_with_the_documented_defaults():
    assert ACCELERATORS.names() == ["spatial", "temporal"]
    t = load_accelerator("temporal")
    assert isinstance(t, TemporalAccelerator) and t.kind == "temporal"
    assert (t.dm, t.dk, t.dn, t.clock_mhz, t.lmem_words, t.rmem_words) == (8, 256, 8, 200.0, 1024, 1024)
    assert (t.read_bits_per_cycle, t.write_bits_per_cycle, t.exec_overhead_cycles) == (64, 64, 12)
    s = load_accelerator("spatial")
    assert isinstance(s, SpatialAccelerator) and s.kind == "spatial"
    assert (s.rows_n, s.cols_m, s.interface_bits_per_cycle, s.wbuf_kb, s.ibuf_kb, s.obuf_kb) == (8, 16, 64, 64, 32, 16)
    for acc in (t, s):
        assert (acc.device_lut, acc.device_ff, acc.device_bram36, acc.device_dsp) == (53200, 106400, 140, 220)
        assert acc.dram_pj_per_bit == 20.0 and acc.static_power_w == 0.15 and acc.kappa == 1.0
    assert load_accelerator(t) is t


def test_bismo_peak_throughput_formula():
    t = load_accelerator("temporal")
    assert t.peak_binary_ops_per_s == pytest.approx(6.5536e12)  # 2·8·8·256·200 MHz
    ultra96 = t.replace(dm=10, dn=10, clock_mhz=300.0)
    assert ultra96.peak_binary_ops_per_s == pytest.approx(15.36e12)


def test_bismo_resource_model_fits_the_device():
    t = load_accelerator("temporal")
    r = t.resources()
    assert r["lut"] == round(64 * (1.17 * 256 + 44.1 + 120.1))  # BISMO's LUT model, 29,678
    assert r["bram36"] == 8 * (8 + 8)  # (Dk/32)·(Dm·LMEM/1024 + Dn·RMEM/1024)
    assert r["dsp"] == 0
    assert r["lut"] < t.device_lut and r["ff"] < t.device_ff and r["bram36"] < t.device_bram36
    # the next array size up (8x512x8) no longer fits: 8x256x8 is the largest PYNQ-Z1 build
    wider = t.replace(dk=512).resources()
    assert wider["lut"] > t.device_lut or wider["bram36"] > t.device_bram36


def test_spatial_resource_model_fits_and_scales_with_precision():
    s = load_accelerator("spatial")
    r = s.resources()
    assert r["lut"] == round(128 * 260)
    assert r["bram36"] == 16 + 8 + 4  # 64 + 32 + 16 KiB in 4 KiB blocks
    assert r["lut"] < s.device_lut and r["ff"] < s.device_ff and r["bram36"] < s.device_bram36
    four = s.replace(max_bits=4).resources()["lut"]
    assert four == round(128 * 260 * 0.5**2.2)
    assert s.replace(fusible=False).resources()["lut"] == round(128 * 260 / 3.4)


def test_spatial_run_bits():
    s = load_accelerator("spatial")
    assert [s.run_bits(b) for b in range(9)] == [0, 2, 2, 4, 4, 8, 8, 8, 8]
    assert [s.replace(fusible=False).run_bits(b) for b in range(9)] == [0] + [8] * 8
    assert [s.replace(max_bits=4).run_bits(b) for b in range(5)] == [0, 2, 2, 4, 4]


def _write(tmp_path, data, name="board.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _builtin(name):
    return yaml.safe_load(ACCELERATORS.get(name).read_text())


def test_user_file_with_every_key(tmp_path):
    data = _builtin("temporal")
    data.update(name="my-board", dm=4, clock_mhz=150)
    acc = load_accelerator(_write(tmp_path, data))
    assert (acc.name, acc.dm, acc.clock_mhz) == ("my-board", 4, 150.0)
    assert isinstance(acc.clock_mhz, float) and isinstance(acc.dm, int)


def test_weights_on_chip_is_optional_and_off_by_default(tmp_path):
    assert not load_accelerator("temporal").weights_on_chip and not load_accelerator("spatial").weights_on_chip
    data = _builtin("spatial")
    del data["weights_on_chip"]
    assert not load_accelerator(_write(tmp_path, data)).weights_on_chip
    assert load_accelerator(_write(tmp_path, {"base": "temporal", "weights_on_chip": True})).weights_on_chip
    with pytest.raises(AutoQError, match="'weights_on_chip' must be true or false, got 'yes'"):
        load_accelerator(_write(tmp_path, {"base": "temporal", "weights_on_chip": "yes"}))


def test_user_file_from_a_base(tmp_path):
    acc = load_accelerator(_write(tmp_path, {"base": "spatial", "name": "big", "cols_m": 32}))
    assert acc.kind == "spatial" and acc.cols_m == 32 and acc.rows_n == 8
    assert acc == load_accelerator("spatial").replace(name="big", cols_m=32)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dmm": 8}, "unknown key 'dmm'"),
        ({"dk": 0}, "'dk' must be positive"),
        ({"dm": -8}, "'dm' must be positive"),
        ({"clock_mhz": 0.0}, "'clock_mhz' must be positive"),
        ({"dk": 2.5}, "'dk' must be an integer"),
        ({"dn": "8"}, "'dn' must be a number"),
        ({"dn": True}, "'dn' must be a number"),
        ({"static_power_w": -1}, "'static_power_w' must be >= 0"),
        ({"max_bits": 0}, "'max_bits' is 0"),
        ({"max_bits": 64}, "'max_bits' is 64"),
        ({"kind": "systolic"}, "'kind' must be 'temporal' or 'spatial'"),
    ],
)
def test_temporal_file_errors(tmp_path, change, message):
    data = _builtin("temporal")
    data.update(change)
    with pytest.raises(AutoQError, match=message) as e:
        load_accelerator(_write(tmp_path, data))
    assert "board.yaml" in str(e.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"max_bits": 6}, "fuse 2-bit bricks to 2, 4 or 8 bits"),
        ({"max_bits": 16}, "'max_bits' is 16"),
        ({"fusible": "yes"}, "'fusible' must be true or false"),
        ({"wbuf_kb": 0}, "'wbuf_kb' must be positive"),
        ({"dm": 8}, "unknown key 'dm' for a spatial accelerator"),
    ],
)
def test_spatial_file_errors(tmp_path, change, message):
    data = _builtin("spatial")
    data.update(change)
    with pytest.raises(AutoQError, match=message):
        load_accelerator(_write(tmp_path, data))


def test_missing_key_names_it_and_the_fix(tmp_path):
    data = _builtin("temporal")
    del data["rmem_words"]
    with pytest.raises(AutoQError, match="missing key 'rmem_words'.*base: temporal"):
        load_accelerator(_write(tmp_path, data))


def test_bad_files(tmp_path):
    with pytest.raises(AutoQError, match="neither a built-in"):
        load_accelerator(tmp_path / "nope.yaml")
    with pytest.raises(AutoQError, match="neither a built-in"):
        load_accelerator("bismo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [temporal\n")
    with pytest.raises(AutoQError, match="not valid YAML"):
        load_accelerator(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(AutoQError, match="YAML mapping"):
        load_accelerator(bad)
    with pytest.raises(AutoQError, match="'base' must be one of"):
        accelerator_from_dict({"base": "fpga"})
    with pytest.raises(AutoQError, match="differs from its base"):
        accelerator_from_dict({"base": "temporal", "kind": "spatial"})


def test_replace_validates():
    with pytest.raises(AutoQError, match="'dn' must be positive"):
        load_accelerator("temporal").replace(dn=0)
