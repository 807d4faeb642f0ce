"""Bit packing of the packed format: exact round trips, the documented bit order, malformed streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq.errors import AutoQError
from autoq.export.packed import pack_codes, packed_nbytes, unpack_codes


def _codes_for(bits: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((len(bits), k), dtype=np.int64)
    for o, b in enumerate(bits):
        if b == 1:
            out[o] = rng.choice([-1, 1], k)
        elif b >= 2:
            q = 2 ** (b - 1) - 1
            out[o] = rng.integers(-q, q + 1, k)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=1, max_size=12), st.integers(1, 40), st.integers(0, 2**31))
def test_round_trip_takes_exactly_b_bits_per_code(bits, k, seed):
    bits = np.array(bits)
    codes = _codes_for(bits, k, np.random.default_rng(seed))
    stream = pack_codes(codes, bits)
    assert stream.dtype == np.uint8 and stream.size == packed_nbytes(bits, k) == -(-int(bits.sum()) * k // 8)
    np.testing.assert_array_equal(unpack_codes(stream, bits, k), codes)


def test_documented_bit_order():
    # kernel 0 at 3 bits: codes 1, -1 -> fields 001, 111; kernel 1 at 1 bit: +1, -1 -> 1, 0;
    # kernel 2 at 2 bits: -1, 0 -> 11, 00. Stream (LSB first): 100 111 | 1 0 | 11 00 -> 12 bits
    bits = np.array([3, 1, 2])
    codes = np.array([[1, -1], [1, -1], [-1, 0]])
    stream = pack_codes(codes, bits)
    expected_bits = [1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert stream.tolist() == [sum(b << i for i, b in enumerate(expected_bits[j : j + 8])) for j in (0, 8)]
    assert stream.tolist() == [0b01111001, 0b00000011]


def test_eight_bit_codes_are_twos_complement_bytes():
    codes = np.array([[-127, -1, 0, 1, 127]])
    assert pack_codes(codes, np.array([8])).tolist() == [0x81, 0xFF, 0x00, 0x01, 0x7F]


def test_pruned_kernels_take_no_bits():
    bits = np.array([0, 4, 0])
    codes = np.array([[0, 0], [7, -7], [0, 0]])
    stream = pack_codes(codes, bits)
    assert stream.size == 1
    np.testing.assert_array_equal(unpack_codes(stream, bits, 2), codes)


def test_malformed_streams_are_rejected():
    bits = np.array([3, 3])
    stream = pack_codes(np.array([[1, 2, 3], [-1, -2, -3]]), bits)  # 18 bits in 3 bytes
    with pytest.raises(AutoQError, match="2 bytes, the bit widths need 3"):
        unpack_codes(stream[:2], bits, 3)
    padded = stream.copy()
    padded[-1] |= 0x80
    with pytest.raises(AutoQError, match="padding bits"):
        unpack_codes(padded, bits, 3)
    with pytest.raises(AutoQError, match="symmetric range"):
        unpack_codes(np.array([0b100], dtype=np.uint8), np.array([3]), 1)  # -4 at 3 bits
