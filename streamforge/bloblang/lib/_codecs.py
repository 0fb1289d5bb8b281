"""Pure-Python codecs Bloblang needs without third-party libraries.

xxHash (32/64), CRC-32 with the Castagnoli and Koopman polynomials, Z85, the LZ4 frame
format and the Snappy block format (with a simple greedy matcher for compression).
"""

from __future__ import annotations

import struct

__all__ = [
    "xxh32",
    "xxh64",
    "crc32_table",
    "crc32",
    "z85_encode",
    "z85_decode",
    "lz4_compress",
    "lz4_decompress",
    "snappy_compress",
    "snappy_decompress",
]

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_P64 = (
    11400714785074694791,
    14029467366897019727,
    1609587929392839161,
    9650029242287828579,
    2870177450012600261,
)
_P32 = (2654435761, 2246822519, 3266489917, 668265263, 374761393)


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round64(acc: int, lane: int) -> int:
    acc = (acc + lane * _P64[1]) & _M64
    return (_rotl64(acc, 31) * _P64[0]) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """The 64-bit xxHash of `data`."""
    p1, p2, p3, p4, p5 = _P64
    n, i = len(data), 0
    if n >= 32:
        v1, v2, v3, v4 = (seed + p1 + p2) & _M64, (seed + p2) & _M64, seed, (seed - p1) & _M64
        while i <= n - 32:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1, v2, v3, v4 = _round64(v1, a), _round64(v2, b), _round64(v3, c), _round64(v4, d)
            i += 32
        h = (_rotl64(v1, 1) + _rotl64(v2, 7) + _rotl64(v3, 12) + _rotl64(v4, 18)) & _M64
        for v in (v1, v2, v3, v4):
            h = (((h ^ _round64(0, v)) * p1) + p4) & _M64
    else:
        h = (seed + p5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round64(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl64(h, 27) * p1 + p4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * p1) & _M64
        h = (_rotl64(h, 23) * p2 + p3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * p5) & _M64
        h = (_rotl64(h, 11) * p1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * p2) & _M64
    h ^= h >> 29
    h = (h * p3) & _M64
    return h ^ (h >> 32)


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def xxh32(data: bytes, seed: int = 0) -> int:
    """The 32-bit xxHash of `data`."""
    p1, p2, p3, p4, p5 = _P32
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & _M32, (seed + p2) & _M32, seed, (seed - p1) & _M32]
        while i <= n - 16:
            lanes = struct.unpack_from("<4I", data, i)
            for k in range(4):
                v[k] = (_rotl32((v[k] + lanes[k] * p2) & _M32, 13) * p1) & _M32
            i += 16
        h = (_rotl32(v[0], 1) + _rotl32(v[1], 7) + _rotl32(v[2], 12) + _rotl32(v[3], 18)) & _M32
    else:
        h = (seed + p5) & _M32
    h = (h + n) & _M32
    while i + 4 <= n:
        h = (h + struct.unpack_from("<I", data, i)[0] * p3) & _M32
        h = (_rotl32(h, 17) * p4) & _M32
        i += 4
    while i < n:
        h = (h + data[i] * p5) & _M32
        h = (_rotl32(h, 11) * p1) & _M32
        i += 1
    h ^= h >> 15
    h = (h * p2) & _M32
    h ^= h >> 13
    h = (h * p3) & _M32
    return h ^ (h >> 16)


_CRC_TABLES: dict[int, list[int]] = {}


def crc32_table(poly: int) -> list[int]:
    """The lookup table of a reflected CRC-32 polynomial."""
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
    table = crc32_table(poly)
    c = _M32
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _M32


_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX = {c: i for i, c in enumerate(_Z85)}


def z85_encode(data: bytes) -> str:
    """Z85 text of `data`, whose length must be a multiple of 4."""
    if len(data) % 4:
        raise ValueError("z85: invalid input length (multiple of 4 expected)")
    out = []
    for (word,) in struct.iter_unpack(">I", data):
        chunk = []
        for _ in range(5):
            word, r = divmod(word, 85)
            chunk.append(_Z85[r])
        out.append("".join(reversed(chunk)))
    return "".join(out)


def z85_decode(text: bytes) -> bytes:
    """Bytes of Z85 text, whose length must be a multiple of 5."""
    s = text.decode("ascii", "replace")
    if len(s) % 5:
        raise ValueError("z85: invalid input length (multiple of 5 expected)")
    out = bytearray()
    for i in range(0, len(s), 5):
        word = 0
        for j, c in enumerate(s[i : i + 5]):
            v = _Z85_INDEX.get(c)
            if v is None:
                raise ValueError(f"z85: illegal character at index {i + j}")
            word = word * 85 + v
        if word > _M32:
            raise ValueError(f"z85: illegal input at index {i}")
        out += struct.pack(">I", word)
    return bytes(out)


# ---------------------------------------------------------------------------------------
# LZ4


def _lz4_len(out: bytearray, n: int) -> None:
    while n >= 255:
        out.append(255)
        n -= 255
    out.append(n)


def _lz4_sequence(out: bytearray, lits: bytes, offset: int, mlen: int) -> None:
    ll = len(lits)
    ml = mlen - 4 if mlen else 0
    out.append((min(ll, 15) << 4) | (min(ml, 15) if mlen else 0))
    if ll >= 15:
        _lz4_len(out, ll - 15)
    out += lits
    if mlen:
        out += struct.pack("<H", offset)
        if ml >= 15:
            _lz4_len(out, ml - 15)


def lz4_block_compress(src: bytes) -> bytes:
    """One LZ4 block (greedy 4-byte hash matcher)."""
    n = len(src)
    out = bytearray()
    anchor = i = 0
    table: dict[bytes, int] = {}
    limit, match_end = n - 12, n - 5
    while i < limit:
        key = src[i : i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand <= 0xFFFF:
            m, c = i + 4, cand + 4
            while m < match_end and src[m] == src[c]:
                m += 1
                c += 1
            _lz4_sequence(out, src[anchor:i], i - cand, m - i)
            i = anchor = m
        else:
            i += 1
    _lz4_sequence(out, src[anchor:], 0, 0)
    return bytes(out)


def lz4_block_decompress(src: bytes, out: bytearray) -> None:
    """Append the content of one LZ4 block to `out`."""
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        ll = token >> 4
        if ll == 15:
            while True:
                b = src[i]
                i += 1
                ll += b
                if b != 255:
                    break
        out += src[i : i + ll]
        i += ll
        if i >= n:
            break
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        if offset == 0 or offset > len(out):
            raise ValueError("lz4: invalid match offset")
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - offset
        if offset >= ml:
            out += out[start : start + ml]
        else:
            for k in range(ml):
                out.append(out[start + k])


_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_BLOCK_MAX = 4 << 20


def lz4_compress(data: bytes) -> bytes:
    """An LZ4 frame: independent 4 MiB blocks, content checksum, no block checksums."""
    flg, bd = 0x64, 0x70
    out = bytearray(_LZ4_MAGIC)
    out += bytes([flg, bd, (xxh32(bytes([flg, bd])) >> 8) & 0xFF])
    for pos in range(0, len(data), _LZ4_BLOCK_MAX):
        block = data[pos : pos + _LZ4_BLOCK_MAX]
        packed = lz4_block_compress(block)
        if len(packed) < len(block):
            out += struct.pack("<I", len(packed)) + packed
        else:
            out += struct.pack("<I", len(block) | 0x80000000) + block
    out += b"\x00\x00\x00\x00"
    out += struct.pack("<I", xxh32(data))
    return bytes(out)


def lz4_decompress(data: bytes) -> bytes:
    """The content of one or more concatenated LZ4 frames."""
    out = bytearray()
    i = 0
    try:
        while i < len(data):
            magic = data[i : i + 4]
            if 0x184D2A50 <= struct.unpack("<I", magic)[0] <= 0x184D2A5F:
                size = struct.unpack_from("<I", data, i + 4)[0]
                i += 8 + size
                continue
            if magic != _LZ4_MAGIC:
                raise ValueError("lz4: bad magic number")
            flg = data[i + 4]
            i += 6
            block_checksum, content_size = bool(flg & 0x10), bool(flg & 0x08)
            content_checksum, dict_id = bool(flg & 0x04), bool(flg & 0x01)
            i += (8 if content_size else 0) + (4 if dict_id else 0) + 1
            while True:
                size = struct.unpack_from("<I", data, i)[0]
                i += 4
                if size == 0:
                    break
                raw, size = bool(size & 0x80000000), size & 0x7FFFFFFF
                block = data[i : i + size]
                if len(block) != size:
                    raise ValueError("lz4: truncated block")
                i += size + (4 if block_checksum else 0)
                if raw:
                    out += block
                else:
                    lz4_block_decompress(block, out)
            if content_checksum:
                i += 4
    except (IndexError, struct.error):
        raise ValueError("lz4: unexpected end of data") from None
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Snappy (block format; framed streams are accepted when decompressing)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _snappy_literal(out: bytearray, lit: bytes) -> None:
    n = len(lit) - 1
    if n < 60:
        out.append(n << 2)
    elif n < 0x100:
        out += bytes([60 << 2, n])
    elif n < 0x10000:
        out.append(61 << 2)
        out += struct.pack("<H", n)
    else:
        out.append(63 << 2)
        out += struct.pack("<I", n)
    out += lit


def _snappy_copy(out: bytearray, offset: int, length: int) -> None:
    while length > 0:
        chunk = min(length, 64)
        if length - chunk < 4 and length > 64:
            chunk = length - 4
        out.append(((chunk - 1) << 2) | 2)
        out += struct.pack("<H", offset)
        length -= chunk


def snappy_compress(data: bytes) -> bytes:
    """Snappy block format (greedy 4-byte hash matcher)."""
    n = len(data)
    out = bytearray(_uvarint(n))
    table: dict[bytes, int] = {}
    anchor = i = 0
    while i + 4 <= n:
        key = data[i : i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand <= 0xFFFF:
            m, c = i + 4, cand + 4
            while m < n and data[m] == data[c]:
                m += 1
                c += 1
            if i > anchor:
                _snappy_literal(out, data[anchor:i])
            _snappy_copy(out, i - cand, m - i)
            i = anchor = m
        else:
            i += 1
    if anchor < n:
        _snappy_literal(out, data[anchor:])
    return bytes(out)


def _snappy_block(src: bytes) -> bytes:
    length = shift = i = 0
    while True:
        b = src[i]
        i += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    n = len(src)
    while i < n:
        tag = src[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ll = tag >> 2
            if ll >= 60:
                nb = ll - 59
                ll = int.from_bytes(src[i : i + nb], "little")
                i += nb
            ll += 1
            out += src[i : i + ll]
            i += ll
            continue
        if kind == 1:
            ml = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | src[i]
            i += 1
        elif kind == 2:
            ml = (tag >> 2) + 1
            offset = src[i] | (src[i + 1] << 8)
            i += 2
        else:
            ml = (tag >> 2) + 1
            offset = struct.unpack_from("<I", src, i)[0]
            i += 4
        if offset == 0 or offset > len(out):
            raise ValueError("snappy: corrupt input")
        start = len(out) - offset
        for k in range(ml):
            out.append(out[start + k])
    if len(out) != length:
        raise ValueError("snappy: corrupt input")
    return bytes(out)


_SNAPPY_STREAM = b"\xff\x06\x00\x00sNaPpY"


def snappy_decompress(data: bytes) -> bytes:
    """Content of a Snappy block, or of a framed Snappy stream."""
    try:
        if not data.startswith(_SNAPPY_STREAM):
            return _snappy_block(data)
        out = bytearray()
        i = 0
        while i < len(data):
            kind = data[i]
            size = int.from_bytes(data[i + 1 : i + 4], "little")
            body = data[i + 4 : i + 4 + size]
            i += 4 + size
            if kind == 0x00:
                out += _snappy_block(body[4:])
            elif kind == 0x01:
                out += body[4:]
        return bytes(out)
    except (IndexError, struct.error):
        raise ValueError("snappy: corrupt input") from None
