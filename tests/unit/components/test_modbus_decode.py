"""Decoding registers by data type and byte order, scale and output conversion (no network).

Register words are written out by hand from the values' IEEE/two's-complement bytes, so these
tests do not reuse the decoder's own packing.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from streamforge.inputs.modbus.decode import make_decoder
from streamforge.inputs.modbus.tags import parse_tag


def decode(words: list[Any], byte_order: str = "ABCD", **tag: Any) -> Any:
    entry = {"name": "t", "address": 0, **tag}
    return make_decoder(parse_tag(entry), byte_order)(words)


# 1234.5 as FLOAT32 is 0x449A5000: bytes A=44 B=9A C=50 D=00
FLOAT32_WORDS = {
    "ABCD": [0x449A, 0x5000],
    "CDAB": [0x5000, 0x449A],
    "BADC": [0x9A44, 0x0050],
    "DCBA": [0x0050, 0x9A44],
}
# -2 as INT64 is 0xFFFFFFFFFFFFFFFE
INT64_WORDS = {
    "ABCD": [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE],
    "CDAB": [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF],
    "BADC": [0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF],
    "DCBA": [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF],
}


@pytest.mark.parametrize("order", sorted(FLOAT32_WORDS))
def test_float32_in_every_byte_order(order: str) -> None:
    assert decode(FLOAT32_WORDS[order], order, type="FLOAT32") == 1234.5


@pytest.mark.parametrize("order", sorted(INT64_WORDS))
def test_int64_in_every_byte_order(order: str) -> None:
    assert decode(INT64_WORDS[order], order, type="INT64") == -2
    assert decode(INT64_WORDS[order], order, type="UINT64") == 2**64 - 2


def test_sixteen_bit_values_only_swap_bytes() -> None:
    assert decode([0xFF38], "ABCD", type="INT16") == -200
    assert decode([0xFF38], "CDAB", type="INT16") == -200
    assert decode([0x38FF], "BADC", type="INT16") == -200
    assert decode([0x38FF], "DCBA", type="UINT16") == 0xFF38


def test_thirty_two_bit_integers() -> None:
    assert decode([0xFFFE, 0x1DC0], type="INT32") == -123456
    assert decode([0x1DC0, 0xFFFE], "CDAB", type="INT32") == -123456
    assert decode([0xFFFF, 0xFFFF], type="UINT32") == 4294967295


def test_float64() -> None:
    # -0.1 is 0xBFB999999999999A
    assert decode([0xBFB9, 0x9999, 0x9999, 0x999A], type="FLOAT64") == -0.1


def test_nan_stays_nan_and_cannot_be_an_int() -> None:
    assert math.isnan(decode([0x7FC0, 0x0000], type="FLOAT32"))
    with pytest.raises(ValueError, match="cannot output nan as INT"):
        decode([0x7FC0, 0x0000], type="FLOAT32", output="INT")


def test_strings_keep_register_order_and_drop_trailing_nuls() -> None:
    words = [0x4142, 0x4344, 0x4500, 0x0000]  # "ABCDE"
    assert decode(words, type="STRING", length=4) == "ABCDE"
    assert decode(words, "CDAB", type="STRING", length=4) == "ABCDE"
    assert decode([0x4241, 0x4443, 0x0045, 0x0000], "BADC", type="STRING", length=4) == "ABCDE"


def test_scale_and_output_conversions() -> None:
    assert decode([215], type="INT16", scale=0.1) == pytest.approx(21.5)
    assert decode([215], type="INT16", scale=0.1, output="INT") == 22
    assert decode([0xFFFF], type="INT16", scale=2) == -2.0
    assert decode([3], type="UINT16", output="BOOL") is True
    assert decode([0], type="UINT16", output="BOOL") is False
    assert decode([7], type="UINT16", output="STRING") == "7"
    assert decode(FLOAT32_WORDS["ABCD"], type="FLOAT32", output="INT") == 1234
    assert decode(FLOAT32_WORDS["ABCD"], type="FLOAT32", output="STRING") == "1234.5"


def test_bits_from_coils_and_from_registers() -> None:
    assert decode([True], register="coil") is True
    assert decode([False], register="discrete", output="INT") == 0
    assert decode([True], register="coil", output="STRING") == "true"
    assert decode([0b1000], type="BIT", bit=3) is True
    assert decode([0b1000], type="BIT", bit=2) is False
    assert decode([0x8000], type="BIT", bit=15, output="INT") == 1
    assert decode([0x0800], "BADC", type="BIT", bit=3) is True
    assert decode([0x0008], "DCBA", type="BIT", bit=11) is True
