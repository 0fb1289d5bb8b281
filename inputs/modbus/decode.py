"""Turning the registers or bits of one tag into its value: data type, byte order, scale, output.

Byte orders name the four bytes of a 32-bit value as the device sends them, A the most
significant: ABCD is big-endian, DCBA little-endian, BADC big-endian words with their bytes
swapped, CDAB little-endian word order with big-endian words. 16-bit values use the byte swap
alone (BADC and DCBA swap, ABCD and CDAB do not); 64-bit values extend the same rule to four
registers. STRINGs keep the register order and swap the bytes of each register for BADC and
DCBA; trailing NULs are dropped. A BIT on a register is a bit of its UINT16 value (bit 0 the
least significant), so it follows the byte swap too.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from streamforge.inputs.modbus.tags import BIT_REGISTERS, Tag

__all__ = ["Decoder", "make_decoder", "registers_to_bytes"]

#: the registers (or bits) of one tag -> its output value; raises ValueError when impossible
Decoder = Callable[[Sequence[Any]], Any]

_FORMATS = {
    "INT16": "h", "UINT16": "H", "INT32": "i", "UINT32": "I",
    "INT64": "q", "UINT64": "Q", "FLOAT32": "f", "FLOAT64": "d",
}  # fmt: skip


def registers_to_bytes(
    byte_order: str, count: int, *, keep_order: bool = False
) -> Callable[[Sequence[int]], bytes]:
    """A function packing `count` registers into bytes, most significant first for ABCD."""
    swap_bytes = byte_order in ("BADC", "DCBA")
    reverse = byte_order in ("CDAB", "DCBA") and not keep_order and count > 1
    packer = struct.Struct(("<" if swap_bytes else ">") + f"{count}H")
    if reverse:
        return lambda words: packer.pack(*reversed(words))
    return lambda words: packer.pack(*words)


def _number_output(tag: Tag) -> Callable[[Any], Any]:
    """Conversion of a (scaled) number to the tag's output type."""
    output = tag.output

    def as_int(value: Any) -> int:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"cannot output {value} as INT")
            return int(round(value))
        return int(value)

    def as_bool(value: Any) -> bool:
        if isinstance(value, float) and math.isnan(value):
            raise ValueError("cannot output NaN as BOOL")
        return bool(value)

    def as_string(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    conversions: dict[str, Callable[[Any], Any]] = {
        "INT": as_int, "FLOAT": float, "BOOL": as_bool, "STRING": as_string,
    }  # fmt: skip
    return conversions[output]


def _scaled(decode: Callable[[Sequence[Any]], Any], scale: float) -> Callable[[Sequence[Any]], Any]:
    if scale == 1.0:
        return decode
    return lambda words: decode(words) * scale


def _bit_decoder(tag: Tag, byte_order: str) -> Callable[[Sequence[Any]], Any]:
    if tag.register in BIT_REGISTERS:
        return lambda bits: bool(bits[0])
    shift = tag.bit + 8 if byte_order in ("BADC", "DCBA") else tag.bit
    mask = 1 << (shift if shift < 16 else shift - 16)
    return lambda words: bool(words[0] & mask)


def _string_decoder(
    tag: Tag, byte_order: str, location: str = ""
) -> Callable[[Sequence[Any]], Any]:
    to_bytes = registers_to_bytes(byte_order, tag.length, keep_order=True)
    if location:  # one character per register: its upper (first) or lower (second) byte
        first = 0 if location == "upper" else 1
        return lambda words: (
            to_bytes(words)[first::2].rstrip(b"\x00").decode("utf-8", errors="replace")
        )
    return lambda words: to_bytes(words).rstrip(b"\x00").decode("utf-8", errors="replace")


def _number_decoder(tag: Tag, byte_order: str) -> Callable[[Sequence[Any]], Any]:
    to_bytes = registers_to_bytes(byte_order, tag.length)
    unpack = struct.Struct(">" + _FORMATS[tag.type]).unpack
    return lambda words: unpack(to_bytes(words))[0]


def make_decoder(tag: Tag, byte_order: str, string_location: str = "") -> Decoder:
    """The decoder of one tag, built once; it gets exactly the tag's registers or bits.

    `string_location` (benthos-umh's workarounds.stringRegisterLocation): a STRING uses only
    the `upper` or `lower` byte of each register, after the byte order; empty: both.
    """
    if tag.type == "STRING":
        return _string_decoder(tag, byte_order, string_location)
    if tag.type == "BIT":
        raw = _bit_decoder(tag, byte_order)
    else:
        raw = _scaled(_number_decoder(tag, byte_order), tag.scale)
    natural = "BOOL" if tag.type == "BIT" else ("FLOAT" if tag.type.startswith("FLOAT") else "INT")
    if tag.output == natural and tag.scale == 1.0:
        return raw
    convert = _number_output(tag)
    return lambda words: convert(raw(words))
