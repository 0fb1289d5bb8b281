"""Parquet: `parquet_encode` and `parquet_decode`, their schema and codecs."""

from __future__ import annotations

from streamforge.processors.parquet.parquet_decode import build_parquet_decode
from streamforge.processors.parquet.parquet_encode import (
    COMPRESSIONS,
    ENCODINGS,
    TIMESTAMP_UNITS,
    build_parquet_encode,
)

__all__ = [
    "COMPRESSIONS",
    "ENCODINGS",
    "TIMESTAMP_UNITS",
    "build_parquet_decode",
    "build_parquet_encode",
]
