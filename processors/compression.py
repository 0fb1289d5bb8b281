"""`compress` and `decompress` processors: each message's bytes, by algorithm, as Benthos does.

snappy is the block format (as Benthos writes it), lz4 and zstd their frame formats, flate raw
deflate; gzip and pgzip are the same format (pgzip is Benthos' parallel gzip writer).
"""

from __future__ import annotations

import bz2
import gzip
import zlib
from collections.abc import Callable
from typing import Any

import cramjam
import lz4.frame
import zstandard

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = [
    "COMPRESS_ALGORITHMS",
    "DECOMPRESS_ALGORITHMS",
    "CompressProcessor",
    "DecompressProcessor",
    "compressor",
    "decompressor",
]

COMPRESS_ALGORITHMS = ("flate", "gzip", "lz4", "pgzip", "snappy", "zlib", "zstd")
DECOMPRESS_ALGORITHMS = ("bzip2", *COMPRESS_ALGORITHMS)

Codec = Callable[[bytes], bytes]


def _zlib_level(level: int) -> int:
    return level if -1 <= level <= 9 else -1


def compressor(algorithm: str, level: int = -1) -> Codec:
    """A function compressing bytes with `algorithm` at `level` (-1: the default level)."""
    if algorithm in ("gzip", "pgzip"):
        lvl = 6 if level < 0 else min(level, 9)
        return lambda b: gzip.compress(b, compresslevel=lvl, mtime=0)
    if algorithm == "zlib":
        zl = _zlib_level(level)
        return lambda b: zlib.compress(b, zl)
    if algorithm == "flate":
        fl = _zlib_level(level)

        def deflate(b: bytes) -> bytes:
            c = zlib.compressobj(fl, zlib.DEFLATED, -15)
            return c.compress(b) + c.flush()

        return deflate
    if algorithm == "snappy":
        return lambda b: bytes(cramjam.snappy.compress_raw(b))
    if algorithm == "lz4":
        ll = 0 if level < 0 else level
        return lambda b: lz4.frame.compress(b, compression_level=ll)
    if algorithm == "zstd":
        zc = zstandard.ZstdCompressor(level=3 if level < 1 else min(level, 22))
        return zc.compress
    raise ValueError(f"unknown compression algorithm {algorithm!r}")


def decompressor(algorithm: str) -> Codec:
    """A function decompressing bytes made with `algorithm`."""
    if algorithm in ("gzip", "pgzip"):
        return gzip.decompress
    if algorithm == "zlib":
        return zlib.decompress
    if algorithm == "flate":
        return lambda b: zlib.decompress(b, -15)
    if algorithm == "snappy":
        return lambda b: bytes(cramjam.snappy.decompress_raw(b))
    if algorithm == "lz4":
        return lz4.frame.decompress  # type: ignore[no-any-return]
    if algorithm == "zstd":
        zd = zstandard.ZstdDecompressor()
        return lambda b: zd.decompressobj().decompress(b)
    if algorithm == "bzip2":
        return bz2.decompress
    raise ValueError(f"unknown decompression algorithm {algorithm!r}")


class _CodecProcessor(Processor):
    """Replaces each message's bytes with what the codec makes of them; flags failures."""

    verb = ""

    def __init__(self, algorithm: str, codec: Codec) -> None:
        self.algorithm = algorithm
        self.codec = codec

    def process_batch(self, batch: list[Message]) -> list[Message]:
        codec = self.codec
        for m in batch:
            try:
                m.set_payload(codec(m.payload))
            except Exception as exc:  # noqa: BLE001 - each library raises its own errors
                m.error = f"{self.verb} {self.algorithm}: {exc or type(exc).__name__}"
        return batch


@register_processor(
    "compress",
    fields=[
        Field(
            "algorithm",
            "string",
            options=COMPRESS_ALGORITHMS,
            description="The compression algorithm.",
        ),
        Field(
            "level",
            "int",
            default=-1,
            description="The compression level; -1 is the algorithm's default. Not every "
            "algorithm has levels (snappy has none).",
        ),
    ],
    summary="Compresses each message with the chosen algorithm.",
    description=(
        "A message that fails to compress keeps its content and is flagged. `zstd` is an "
        "addition to Benthos' list."
    ),
    examples=("compress:\n  algorithm: gzip\n  level: 9",),
)
class CompressProcessor(_CodecProcessor):
    """Compresses each message with the chosen algorithm."""

    verb = "compress"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        algorithm = str(conf.get("algorithm"))
        super().__init__(algorithm, compressor(algorithm, int(conf.get("level", -1))))


@register_processor(
    "decompress",
    fields=[
        Field(
            "algorithm",
            "string",
            options=DECOMPRESS_ALGORITHMS,
            description="The decompression algorithm.",
        ),
    ],
    summary="Decompresses each message with the chosen algorithm.",
    description=(
        "A message that fails to decompress keeps its content and is flagged, so it can be "
        "handled with `catch`. `zstd` is an addition to Benthos' list."
    ),
    examples=("decompress:\n  algorithm: gzip",),
)
class DecompressProcessor(_CodecProcessor):
    """Decompresses each message with the chosen algorithm."""

    verb = "decompress"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        algorithm = str(conf.get("algorithm"))
        super().__init__(algorithm, decompressor(algorithm))
