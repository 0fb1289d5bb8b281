"""`parquet_decode` processor: one Parquet document becomes one message per row (pyarrow).

The decoding lives in `_parquet_decoder`, imported when the processor is built.
"""

from __future__ import annotations

from typing import Any

from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = ["build_parquet_decode"]


@register_processor(
    "parquet_decode",
    fields=[
        Field(
            "byte_array_as_string",
            "bool",
            default=False,
            description=(
                "Read BYTE_ARRAY (and FIXED_LEN_BYTE_ARRAY) values as strings (invalid UTF-8 "
                "replaced). Otherwise they stay bytes, which a mapping sees as bytes and which "
                "are written out as their UTF-8 text. UTF8 columns are strings either way."
            ),
        ),
    ],
    summary="Decodes a Parquet file into one message per row.",
    description=(
        "Each row becomes a message with the row as a JSON object and the metadata of the "
        "file's message. Timestamps read as RFC 3339 UTC strings with nanoseconds and trailing "
        "zeros trimmed (`2024-05-01T12:00:00.5Z`), dates as `YYYY-MM-DD`, decimals as numbers, "
        "maps as objects; a null or missing value reads as null. A payload that is not a "
        "Parquet file stays one message, flagged with an error naming the cause. A file with "
        "no rows yields no messages."
    ),
    examples=(
        "# Parquet files back to JSON lines\n"
        "input:\n"
        "  file:\n"
        "    paths: [ ./logs/**/*.parquet ]\n"
        "    codec: all-bytes\n"
        "  processors:\n"
        "    - parquet_decode: {}\n"
        "output:\n"
        "  file:\n"
        "    path: ./rows.jsonl",
    ),
)
def build_parquet_decode(conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> Processor:
    """Decodes a Parquet file into one message per row."""
    from streamforge.processors.parquet.decoder import ParquetDecodeProcessor

    return ParquetDecodeProcessor(conf, ctx)
