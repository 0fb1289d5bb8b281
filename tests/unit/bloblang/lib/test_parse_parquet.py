"""`parse_parquet`: a Parquet file's rows as objects, as Benthos' documented
`root = content().parse_parquet()`."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.message import Message


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_content_parse_parquet_gives_one_object_per_row() -> None:
    data = parquet_bytes(
        pa.table(
            {
                "id": [1, 2],
                "name": ["pump", None],
                "level": [0.5, 1.25],
                "at": [datetime(2024, 1, 1, 12), datetime(2024, 1, 2, 12)],
                "tags": [["a", "b"], []],
            }
        )
    )
    exe = parse("root = content().parse_parquet()")
    out = exe.apply_message(Message(data, {}))
    assert out is not None
    assert out.value == [
        {
            "id": 1,
            "name": "pump",
            "level": 0.5,
            "at": datetime(2024, 1, 1, 12, tzinfo=timezone.utc),
            "tags": ["a", "b"],
        },
        {
            "id": 2,
            "name": None,
            "level": 1.25,
            "at": datetime(2024, 1, 2, 12, tzinfo=timezone.utc),
            "tags": [],
        },
    ]


def test_maps_and_decimals_become_objects_and_numbers() -> None:
    table = pa.table(
        {
            "m": pa.array([[("k", 1)]], type=pa.map_(pa.string(), pa.int64())),
            "d": pa.array([Decimal("1.50")], type=pa.decimal128(5, 2)),
        }
    )
    rows = parse("root = this.parse_parquet(byte_array_as_string: true)").query(
        parquet_bytes(table)
    )
    assert rows == [{"m": {"k": 1}, "d": 1.5}]


def test_not_parquet_and_wrong_types_are_errors() -> None:
    with pytest.raises(MappingError, match="failed to read parquet"):
        parse("root = this.parse_parquet()").query(b"not parquet")
    with pytest.raises(MappingError, match="expected string or bytes value, got number"):
        parse("root = this.parse_parquet()").query(5)
