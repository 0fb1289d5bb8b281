"""The `parquet_decode` processor's work: a Parquet document's rows as JSON-ready dicts (pyarrow).

Imported when the processor is built, so registering it does not load pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamforge.message import Message
from streamforge.plugin import BuildContext, Processor
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["ParquetDecodeProcessor", "json_rows"]

#: rows converted at a time, so a large file is not held as Python objects twice
READ_BATCH_ROWS = 65_536
_TIMESTAMP_NS = pa.timestamp("ns", tz="UTC")


def _timestamps_as_text(arr: pa.Array) -> pa.Array:
    """Timestamps as RFC 3339 UTC strings with nanoseconds, trailing zeros trimmed (Go's form)."""
    try:
        ns = arr.cast(_TIMESTAMP_NS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # beyond what nanoseconds hold (years before 1677 or after 2262): format in Python
        stamps = arr.cast(pa.timestamp(arr.type.unit, tz="UTC")).to_pylist()
        return pa.array([None if s is None else format_rfc3339_nano(s) for s in stamps])
    text = pc.strftime(ns, format="%Y-%m-%dT%H:%M:%S")
    trimmed = pc.replace_substring_regex(text, r"\.?0+$", "")
    return pc.binary_join_element_wise(trimmed, pa.scalar("Z"), "")


def _needs_work(t: pa.DataType, bytes_as_text: bool) -> bool:
    if pa.types.is_struct(t):
        return any(_needs_work(t.field(i).type, bytes_as_text) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _needs_work(t.value_type, bytes_as_text)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return bytes_as_text
    return not (
        pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_null(t)
    )


def _jsonable(arr: pa.Array, bytes_as_text: bool) -> pa.Array:
    """An Arrow array whose Python values are JSON values (plus bytes when kept as bytes)."""
    t = arr.type
    if not _needs_work(t, bytes_as_text):
        return arr
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_struct(t):
        kids = [_jsonable(arr.field(i), bytes_as_text) for i in range(t.num_fields)]
        names = [t.field(i).name for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(kids, names=names, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _jsonable(arr.values, bytes_as_text)
        cls = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        return cls.from_arrays(arr.offsets, values, mask=mask)
    if pa.types.is_fixed_size_list(t):
        return _jsonable(arr.cast(pa.list_(t.value_field)), bytes_as_text)
    if pa.types.is_timestamp(t):
        return _timestamps_as_text(arr)
    if pa.types.is_dictionary(t):
        return _jsonable(arr.dictionary_decode(), bytes_as_text)
    if pa.types.is_decimal(t):
        return arr.cast(pa.float64())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        texts = [None if b is None else b.decode("utf-8", "replace") for b in arr.to_pylist()]
        return pa.array(texts, pa.string())
    if pa.types.is_date(t) or pa.types.is_time(t):
        return arr.cast(pa.string())
    if pa.types.is_duration(t):
        return arr.cast(pa.int64())
    if pa.types.is_map(t):
        # a map reads as an object; keys become strings
        pairs = arr.to_pylist()
        return pa.array(
            [None if p is None else {str(k): v for k, v in p} for p in pairs],
        )
    return arr.cast(pa.string())


def json_rows(batch: pa.RecordBatch, bytes_as_text: bool = False) -> list[dict[str, Any]]:
    """The rows of a record batch as JSON-ready dicts."""
    columns = [_jsonable(col, bytes_as_text) for col in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()


def _rows(payload: bytes, bytes_as_text: bool) -> Iterator[dict[str, Any]]:
    reader = pq.ParquetFile(pa.BufferReader(payload))
    for batch in reader.iter_batches(batch_size=READ_BATCH_ROWS):
        yield from json_rows(batch, bytes_as_text)


class ParquetDecodeProcessor(Processor):
    """Decodes a Parquet file into one message per row."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.bytes_as_text = bool(conf.get("byte_array_as_string", False))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            try:
                rows = list(_rows(msg.payload, self.bytes_as_text))
            except (pa.ArrowException, OSError, ValueError) as exc:
                out.append(msg.fail(f"parquet_decode: not a readable Parquet file: {exc}"))
                continue
            meta = msg.metadata
            out.extend(Message(value=row, metadata=dict(meta)) for row in rows)
        return out
