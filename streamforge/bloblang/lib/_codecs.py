"""The two codecs Bloblang needs that no installed library offers.

CRC-32 with an arbitrary reflected polynomial (Castagnoli, Koopman; zlib only has IEEE) and
Z85, which is base85 over the standard library's encoder with the ZeroMQ alphabet.
"""

from __future__ import annotations

import base64

__all__ = ["crc32", "z85_encode", "z85_decode"]

_M32 = 0xFFFFFFFF
_CRC_TABLES: dict[int, list[int]] = {}


def _crc32_table(poly: int) -> list[int]:
    table = _CRC_TABLES.get(poly)
    if table is None:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            table.append(c)
        _CRC_TABLES[poly] = table
    return table


def crc32(data: bytes, poly: int) -> int:
    """CRC-32 of `data` with a reflected polynomial (e.g. 0x82F63B78 for Castagnoli)."""
    table = _crc32_table(poly)
    c = _M32
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _M32


_B85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_TO_Z85 = str.maketrans(_B85, _Z85)
_FROM_Z85 = str.maketrans(_Z85, _B85)
_Z85_SET = frozenset(_Z85)


def z85_encode(data: bytes) -> str:
    """Z85 text of `data`, whose length must be a multiple of 4."""
    if len(data) % 4:
        raise ValueError("z85: invalid input length (multiple of 4 expected)")
    return base64.b85encode(data).decode("ascii").translate(_TO_Z85)


def z85_decode(text: bytes) -> bytes:
    """Bytes of Z85 text, whose length must be a multiple of 5."""
    s = text.decode("ascii", "replace")
    if len(s) % 5:
        raise ValueError("z85: invalid input length (multiple of 5 expected)")
    for i, c in enumerate(s):
        if c not in _Z85_SET:
            raise ValueError(f"z85: illegal character at index {i}")
    try:
        return base64.b85decode(s.translate(_FROM_Z85))
    except ValueError:
        raise ValueError("z85: illegal input (value out of range)") from None
