"""Parquet: `parquet_encode` and `parquet_decode`, their schema and codecs."""

from __future__ import annotations

from streamforge.processors.parquet import parquet_decode as parquet_decode
from streamforge.processors.parquet import parquet_encode as parquet_encode
