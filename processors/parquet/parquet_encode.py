"""`parquet_encode` processor: a batch of JSON documents becomes one Parquet file (pyarrow).

The encoding lives in `_parquet_encoder`, imported when the processor is built.
"""

from __future__ import annotations

from typing import Any

from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.parquet.schema import TYPES, parse_column, parse_schema

__all__ = ["COMPRESSIONS", "ENCODINGS", "TIMESTAMP_UNITS", "build_parquet_encode"]

#: `default_compression` values and the pyarrow codec each names
COMPRESSIONS = {
    "snappy": "snappy",
    "zstd": "zstd",
    "gzip": "gzip",
    "none": "none",
    "uncompressed": "none",
    "brotli": "brotli",
    "lz4raw": "lz4_raw",
}
#: `default_encoding` values; they apply to BYTE_ARRAY and UTF8 columns
ENCODINGS = ("DELTA_LENGTH_BYTE_ARRAY", "PLAIN")
#: `default_timestamp_unit` values and the unit pyarrow writes
TIMESTAMP_UNITS = {"NANOSECOND": None, "MICROSECOND": "us", "MILLISECOND": "ms"}

_COLUMN_FIELDS = (
    Field("name", "string", description="The column's name (the message key)."),
    Field(
        "type",
        "string",
        default="",
        options=TYPES,
        description=(
            "The leaf type: BOOLEAN, INT32, INT64, FLOAT, DOUBLE, BYTE_ARRAY, UTF8, or "
            "TIMESTAMP (RFC 3339 strings, written as timestamps in UTC). Omitted for a group."
        ),
    ),
    Field("repeated", "bool", default=False, description="The value is a list of items."),
    Field(
        "optional",
        "bool",
        default=False,
        description=(
            "The value may be null or missing (and, when repeated, so may its items). A "
            "message without a value for a column that is not optional is flagged."
        ),
    ),
    Field(
        "fields",
        "array",
        default=[],
        item=Field("field", "any"),
        description="Child columns: the column is a group (an object), written as a struct.",
        examples=([{"name": "device_time", "type": "TIMESTAMP"}],),
    ),
)


@register_processor(
    "parquet_encode",
    fields=[
        ParsedField(
            "schema",
            "array",
            default=[],
            parser=parse_schema,
            item=ParsedField(
                "column", "object", default={}, fields=_COLUMN_FIELDS, parser=parse_column
            ),
            description=(
                "The Parquet columns. Empty: inferred from each batch, as the union of the "
                "messages' keys with each field's type taken from its values (whole numbers "
                "INT64, widened to DOUBLE beside fractions; strings UTF8; objects groups; "
                "arrays repeated); every inferred column is optional. Objects empty in every "
                "message are left out. Give a schema when files must agree with each other."
            ),
            examples=(
                [
                    {"name": "asset_id", "type": "UTF8"},
                    {"name": "value", "type": "DOUBLE", "optional": True},
                    {
                        "name": "timestamps",
                        "fields": [
                            {"name": "device_time", "type": "TIMESTAMP"},
                            {"name": "gateway_time", "type": "TIMESTAMP"},
                        ],
                    },
                ],
            ),
        ),
        Field(
            "default_compression",
            "string",
            default="snappy",
            options=tuple(COMPRESSIONS),
            description="How column chunks are compressed (`none` and `uncompressed` are one).",
        ),
        Field(
            "default_encoding",
            "string",
            default="DELTA_LENGTH_BYTE_ARRAY",
            options=ENCODINGS,
            advanced=True,
            description=(
                "The encoding of BYTE_ARRAY and UTF8 columns; PLAIN only for readers that lack "
                "DELTA_LENGTH_BYTE_ARRAY. Other columns use pyarrow's (dictionary) encoding."
            ),
        ),
        Field(
            "default_timestamp_unit",
            "string",
            default="NANOSECOND",
            options=tuple(TIMESTAMP_UNITS),
            advanced=True,
            description=(
                "The precision TIMESTAMP columns are written with; coarser units truncate. "
                "MICROSECOND suits readers that lack nanosecond timestamps (e.g. Spark)."
            ),
        ),
    ],
    summary="Encodes a batch of JSON documents as one Parquet file.",
    description=(
        "Put it where a batch is a file: under an output's `batching.processors`. The whole "
        "batch becomes one message whose payload is a Parquet file with one row per message, "
        "carrying the metadata of the first message written (so a `file` output's path can "
        "interpolate it). Keys that are not in the schema are left out. A message that does "
        "not fit the schema (a wrong type, a missing required field, a payload that is not a "
        "JSON object) stays out of the file and is flagged with an error naming the field, "
        "after the file in the batch; the others are written."
    ),
    examples=(
        "# Parquet logs: one file per 10,000 envelopes or per minute, in a folder per day\n"
        "output:\n"
        "  file:\n"
        '    path: logs/${! timestamp_unix().ts_format("2006-01-02") }/props-${! uuid_v4() }'
        ".parquet\n"
        "    codec: all-bytes\n"
        "    batching:\n"
        "      count: 10000\n"
        "      period: 1m\n"
        "      processors:\n"
        "        - parquet_encode:\n"
        "            default_compression: zstd\n"
        "            schema:\n"
        "              - { name: asset_id, type: UTF8 }\n"
        "              - { name: parameter, type: UTF8 }\n"
        "              - { name: value, type: DOUBLE, optional: true }\n"
        "              - name: timestamps\n"
        "                fields:\n"
        "                  - { name: device_time, type: TIMESTAMP }\n"
        "                  - { name: gateway_time, type: TIMESTAMP }",
    ),
)
def build_parquet_encode(conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> Processor:
    """Encodes a batch of JSON documents as one Parquet file."""
    from streamforge.processors.parquet.encoder import ParquetEncodeProcessor

    return ParquetEncodeProcessor(conf, ctx)
