"""Bloblang encoding, hashing and compression methods (Benthos "Encoding and Encryption").

`encode` returns a string; `decode`, `hash`, `compress` and `decompress` return bytes, as in
Benthos; `uuid_v5` returns the name-based UUID of a string. Encryption, password hashes and
JSON Web Tokens live in `crypto`.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import hashlib
import hmac
import io
import struct
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import cramjam
import lz4.frame
import xxhash
import zstandard

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.lib import _codecs
from streamforge.bloblang.lib.strings import as_bytes
from streamforge.bloblang.registry import Param, method

CATEGORY = "encoding"


# ---------------------------------------------------------------------------------------
# encode / decode


def _b64_decoder(altchars: bytes | None, pad: bool) -> Callable[[bytes], bytes]:
    def dec(b: bytes) -> bytes:
        b = b.replace(b"\r", b"").replace(b"\n", b"")
        if not pad:
            if b.endswith(b"="):
                raise ValueError(f"illegal base64 data at input byte {b.index(b'=')}")
            b += b"=" * (-len(b) % 4)
        elif len(b) % 4:
            raise ValueError("unexpected EOF")
        return base64.b64decode(b, altchars=altchars, validate=True)

    return dec


def _hex_decode(b: bytes) -> bytes:
    try:
        return binascii.unhexlify(b)
    except binascii.Error:
        for c in b:
            if chr(c) not in "0123456789abcdefABCDEF":
                raise ValueError(f"encoding/hex: invalid byte: U+{c:04X} {chr(c)!r}") from None
        raise ValueError("unexpected EOF") from None


_ENCODERS: dict[str, Callable[[bytes], str]] = {
    "base64": lambda b: base64.b64encode(b).decode("ascii"),
    "base64url": lambda b: base64.urlsafe_b64encode(b).decode("ascii"),
    "base64rawurl": lambda b: base64.urlsafe_b64encode(b).decode("ascii").rstrip("="),
    "hex": lambda b: b.hex(),
    "ascii85": lambda b: base64.a85encode(b).decode("ascii"),
    "z85": _codecs.z85_encode,
}
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64": _b64_decoder(None, True),
    "base64url": _b64_decoder(b"-_", True),
    "base64rawurl": _b64_decoder(b"-_", False),
    "hex": _hex_decode,
    "ascii85": lambda b: base64.a85decode(b),
    "z85": _codecs.z85_decode,
}


@method("encode", [Param("scheme", "string")], category=CATEGORY)
def encode(target: Any, scheme: Any) -> str:
    """Encode a string or bytes with base64, base64url, base64rawurl, hex or ascii85."""
    enc = _ENCODERS.get(scheme)
    if enc is None:
        raise MappingError(f"unrecognized encoding type: {scheme}")
    try:
        return enc(as_bytes(target))
    except ValueError as e:
        raise MappingError(str(e)) from None


@method("decode", [Param("scheme", "string")], category=CATEGORY)
def decode(target: Any, scheme: Any) -> bytes:
    """Decode a string encoded with base64, base64url, base64rawurl, hex or ascii85."""
    dec = _DECODERS.get(scheme)
    if dec is None:
        raise MappingError(f"unrecognized encoding type: {scheme}")
    try:
        return dec(as_bytes(target))
    except (ValueError, binascii.Error) as e:
        msg = str(e)
        if scheme.startswith("base64") and "illegal" not in msg and "EOF" not in msg:
            msg = f"illegal base64 data: {msg}"
        raise MappingError(msg) from None


# ---------------------------------------------------------------------------------------
# hash

_CRC_POLYS = {"Castagnoli": 0x82F63B78, "Koopman": 0xEB31D82E}
_DIGESTS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
_HMACS = {
    "hmac_sha1": "sha1",
    "hmac-sha1": "sha1",
    "hmac_sha256": "sha256",
    "hmac-sha256": "sha256",
    "hmac_sha512": "sha512",
    "hmac-sha512": "sha512",
}


@method(
    "hash",
    [
        Param("algorithm", "string"),
        Param("key", "string", None),
        Param("polynomial", "string", "IEEE"),
    ],
    category=CATEGORY,
)
def hash_(target: Any, algorithm: Any, key: Any = None, polynomial: Any = "IEEE") -> bytes:
    """Hash a string or bytes: md5, sha1, sha256, sha512, hmac_sha*, xxhash64, crc32."""
    data = as_bytes(target)
    digest = _DIGESTS.get(algorithm)
    if digest is not None:
        return hashlib.new(digest, data).digest()
    digest = _HMACS.get(algorithm)
    if digest is not None:
        if not key:
            raise MappingError(f"hash algorithm {algorithm} requires a key argument")
        return hmac.new(as_bytes(key), data, digest).digest()
    if algorithm == "xxhash64":
        return str(xxhash.xxh64_intdigest(data)).encode("ascii")
    if algorithm == "crc32":
        if polynomial == "IEEE":
            value = zlib.crc32(data)
        elif polynomial in _CRC_POLYS:
            value = _codecs.crc32(data, _CRC_POLYS[polynomial])
        else:
            raise MappingError(f'unsupported crc32 hash key "{polynomial}"')
        return value.to_bytes(4, "big")
    raise MappingError(f"unrecognized hash type: {algorithm}")


# ---------------------------------------------------------------------------------------
# compress / decompress

#: Go's flate.HuffmanOnly level: entropy coding without string matching
_HUFFMAN_ONLY = -2


def _level(level: Any) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or level != int(level):
        raise type_error("integer", level)
    lv = int(level)
    if lv < _HUFFMAN_ONLY or lv > 9:
        raise MappingError(f"invalid compression level: {lv}")
    return lv


#: a DEFLATE stored block's size limit, and the empty final block Go's writers close with
_STORED_MAX = 0xFFFF
_GO_FINAL_BLOCK = b"\x01\x00\x00\xff\xff"


def _go_stored(data: bytes) -> bytes:
    """Stored DEFLATE blocks as Go writes them at level 0 (and for no data at any level)."""
    out = bytearray()
    for start in range(0, len(data), _STORED_MAX):
        chunk = data[start : start + _STORED_MAX]
        out += struct.pack("<BHH", 0, len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return bytes(out + _GO_FINAL_BLOCK)


def _zlib_header(level: int) -> bytes:
    """The 2-byte zlib header for a level: deflate with a 32 KiB window and the level's class."""
    flevel = 2 if level in (-1, 6) else 0 if level < 2 else 1 if level < 6 else 3
    flg = flevel << 6
    return bytes((0x78, flg + 31 - (0x7800 + flg) % 31))


def _deflate(data: bytes, level: int, wbits: int) -> bytes:
    if level == 0 or not data:
        # byte for byte what Go writes; zlib frames stored data and an empty stream differently
        raw = _go_stored(data)
        if wbits < 0:
            return raw
        return _zlib_header(level) + raw + zlib.adler32(data).to_bytes(4, "big")
    if level == _HUFFMAN_ONLY:
        c = zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, wbits, 8, zlib.Z_HUFFMAN_ONLY
        )
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def _gzip_header(level: int) -> bytes:
    """The 10-byte header Go's gzip.Writer writes: no name or time, XFL by level, OS unknown."""
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes((xfl, 255))


def _gzip(data: bytes, level: int) -> bytes:
    # Python's own gzip writer marks OS 3 (Unix) and XFL 4 for level 0; Go writes 255 and 0.
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return _gzip_header(level) + _deflate(data, level, -15) + trailer


def _lz4(data: bytes, level: int) -> bytes:
    # A streaming frame keeps the 4 MiB block size and content checksum Benthos writes.
    c = lz4.frame.LZ4FrameCompressor(
        block_size=lz4.frame.BLOCKSIZE_MAX4MB,
        block_linked=False,
        content_checksum=True,
        compression_level=max(level, 0),
    )
    return c.begin() + c.compress(data) + c.flush()


def _zstd(data: bytes, level: int) -> bytes:
    # Benthos maps the level onto four encoder speeds; these are their zstd equivalents.
    zlevel = 1 if level < 3 else 3 if level < 6 else 7 if level < 10 else 11
    return zstandard.ZstdCompressor(level=zlevel).compress(data)


_COMPRESSORS: dict[str, Callable[[bytes, int], bytes]] = {
    "flate": lambda d, lv: _deflate(d, lv, -15),
    "zlib": lambda d, lv: _deflate(d, lv, 15),
    "gzip": _gzip,
    "pgzip": _gzip,
    "lz4": _lz4,
    "snappy": lambda d, lv: bytes(cramjam.snappy.compress_raw(d)),
    "zstd": _zstd,
}


def _inflate(data: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data) + d.flush()
    if not d.eof:
        raise ValueError("unexpected EOF")
    return out


def _unlz4(data: bytes) -> bytes:
    out = bytearray()
    while data:
        d = lz4.frame.LZ4FrameDecompressor()
        out += d.decompress(data)
        if not d.eof:
            raise ValueError("unexpected EOF")
        data = d.unused_data
    return bytes(out)


_SNAPPY_STREAM = b"\xff\x06\x00\x00sNaPpY"


def _unsnappy(data: bytes) -> bytes:
    if data.startswith(_SNAPPY_STREAM):
        return bytes(cramjam.snappy.decompress(data))
    return bytes(cramjam.snappy.decompress_raw(data))


def _unzstd(data: bytes) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()


_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "flate": lambda d: _inflate(d, -15),
    "zlib": lambda d: _inflate(d, 15),
    "gzip": gzip.decompress,
    "pgzip": gzip.decompress,
    "bzip2": bz2.decompress,
    "lz4": _unlz4,
    "snappy": _unsnappy,
    "zstd": _unzstd,
}
_DECOMPRESS_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    zlib.error,
    cramjam.DecompressionError,
    zstandard.ZstdError,
)


@method("compress", [Param("algorithm", "string"), Param("level", "int", -1)], category=CATEGORY)
def compress(target: Any, algorithm: Any, level: Any = -1) -> bytes:
    """Compress a string or bytes with flate, gzip, pgzip, lz4, snappy, zlib or zstd."""
    fn = _COMPRESSORS.get(algorithm)
    if fn is None:
        raise MappingError(f"compression type not recognised: {algorithm}")
    return fn(as_bytes(target), _level(level))


@method("decompress", [Param("algorithm", "string")], category=CATEGORY)
def decompress(target: Any, algorithm: Any) -> bytes:
    """Decompress bytes with gzip, pgzip, zlib, bzip2, flate, snappy, lz4 or zstd."""
    fn = _DECOMPRESSORS.get(algorithm)
    if fn is None:
        raise MappingError(f"compression type not recognised: {algorithm}")
    try:
        return fn(as_bytes(target))
    except _DECOMPRESS_ERRORS as e:
        raise MappingError(f"failed to decompress {algorithm} data: {e}") from None


# ---------------------------------------------------------------------------------------
# uuid_v5

_UUID_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


def _uuid_namespace(ns: Any) -> uuid.UUID:
    """A predefined namespace by name, any UUID by its text, or the nil UUID when empty."""
    if ns is None or ns == "":
        return uuid.UUID(int=0)
    if not isinstance(ns, str):
        raise type_error("string", ns)
    known = _UUID_NAMESPACES.get(ns)
    if known is not None:
        return known
    try:
        return uuid.UUID(ns)
    except ValueError:
        raise MappingError(
            f"invalid namespace {ns!r}: expected dns, url, oid, x500 or a UUID"
        ) from None


@method("uuid_v5", [Param("ns", "string", None)], category=CATEGORY)
def uuid_v5(target: Any, ns: Any = None) -> str:
    """The version 5 (SHA-1, name-based) UUID of a string in a namespace: `dns`, `url`,
    `oid`, `x500` or any UUID; the nil UUID when none is given."""
    digest = hashlib.sha1(_uuid_namespace(ns).bytes + as_bytes(target)).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))
