"""The `parquet_encode` processor's work: a batch of JSON documents as one Parquet file (pyarrow).

Imported when the processor is built, so registering it does not load pyarrow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Processor
from streamforge.processors.parquet.parquet_encode import COMPRESSIONS, ENCODINGS, TIMESTAMP_UNITS
from streamforge.processors.parquet.schema import (
    Column,
    Misfit,
    infer_columns,
    parse_schema,
    row_converter,
)

__all__ = ["ParquetEncodeProcessor", "arrow_schema", "arrow_type"]

_ARROW_LEAVES: dict[str, pa.DataType] = {
    "BOOLEAN": pa.bool_(),
    "INT32": pa.int32(),
    "INT64": pa.int64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "BYTE_ARRAY": pa.binary(),
    "UTF8": pa.string(),
    "TIMESTAMP": pa.timestamp("ns", tz="UTC"),
}
#: the kinds of inferred Arrow arrays each leaf type takes on the vectorised path
_LEAF_SOURCES: dict[str, tuple[str, ...]] = {
    "BOOLEAN": ("bool",),
    "INT32": ("int", "uint", "double"),
    "INT64": ("int", "uint", "double"),
    "FLOAT": ("int", "uint", "double"),
    "DOUBLE": ("int", "uint", "double"),
    "UTF8": ("string", "large_string", "binary", "large_binary"),
    "BYTE_ARRAY": ("string", "large_string", "binary", "large_binary"),
    "TIMESTAMP": ("string", "large_string"),
}


# -- Arrow types ---------------------------------------------------------------------------


def arrow_type(col: Column) -> pa.DataType:
    """The Arrow type of a column (a list type when repeated)."""
    if col.is_group:
        inner: pa.DataType = pa.struct([arrow_field(c) for c in col.fields])
    else:
        inner = _ARROW_LEAVES[col.type or ""]
    if col.repeated:
        return pa.list_(pa.field("element", inner, nullable=col.optional))
    return inner


def arrow_field(col: Column) -> pa.Field:
    return pa.field(col.name, arrow_type(col), nullable=col.optional)


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([arrow_field(c) for c in columns])


# -- fitting values to the schema ----------------------------------------------------------


class _NotFast(Exception):
    """The vectorised path cannot vouch for this batch; check it message by message."""


def _hides_bools(arr: pa.Array, py: Callable[[], list[Any]] | None = None) -> bool:
    """Whether pyarrow may have read booleans as numbers (it does beside fractions: 1.0, 0.0).

    `py` gives the Python values of a top-level column, to tell for sure; nested columns
    holding 0 or 1 are suspect.
    """
    t = arr.type
    if pa.types.is_floating(t):
        if not pc.any(pc.is_in(arr, value_set=_ZERO_ONE)).as_py():
            return False
        return py is None or any(type(v) is bool for v in py())
    if pa.types.is_struct(t):
        return any(_hides_bools(arr.field(i)) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _hides_bools(arr.values)
    return False


_ZERO_ONE = pa.array([0.0, 1.0])


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_signed_integer(t):
        return "int"
    if pa.types.is_unsigned_integer(t):
        return "uint"
    if pa.types.is_floating(t):
        return "double"
    return str(t)


def _conform(arr: pa.Array, col: Column, nulls_ok: bool = False) -> pa.Array:
    """`arr` (types as pyarrow inferred them) in the column's type; _NotFast when unsure.

    `nulls_ok`: the nulls of `arr` lie only under null groups, so a required column may have them.
    """
    target = arrow_type(col)
    if pa.types.is_null(arr.type):
        if not col.optional and len(arr) and not nulls_ok:
            raise _NotFast
        return pa.nulls(len(arr), target)
    if not col.optional and arr.null_count and not nulls_ok:
        raise _NotFast
    if col.repeated:
        if not pa.types.is_list(arr.type):
            raise _NotFast
        values = _conform(arr.values, col.item())
        mask = arr.is_null() if arr.null_count else None
        return pa.ListArray.from_arrays(arr.offsets, values, type=target, mask=mask)
    if col.is_group:
        return _conform_group(arr, col, target)
    return _conform_leaf(arr, col.type or "", target)


def _conform_group(arr: pa.Array, col: Column, target: pa.DataType) -> pa.Array:
    if not pa.types.is_struct(arr.type):
        raise _NotFast
    names = {arr.type.field(i).name for i in range(arr.type.num_fields)}
    children = []
    for child in col.fields:
        part = arr.field(child.name) if child.name in names else pa.nulls(len(arr))
        nulls_ok = False
        if not child.optional and part.null_count:
            # a required child may be null only where its whole group is
            if not arr.null_count or pc.any(pc.and_(part.is_null(), arr.is_valid())).as_py():
                raise _NotFast
            nulls_ok = True
        children.append(_conform(part, child, nulls_ok))
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)


def _conform_leaf(arr: pa.Array, kind: str, target: pa.DataType) -> pa.Array:
    source = _kind(arr.type)
    if source not in _LEAF_SOURCES[kind]:
        raise _NotFast
    try:
        out = arr.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise _NotFast from None
    if kind == "FLOAT" and source == "double":
        overflowed = pc.sum(pc.is_inf(out)).as_py() or 0
        if overflowed and overflowed != (pc.sum(pc.is_inf(arr)).as_py() or 0):
            raise _NotFast
    return out


def _inferred(values: list[dict[str, Any]]) -> pa.StructArray | None:
    """The batch as pyarrow infers it; None when its types disagree (inferred field by field)."""
    try:
        arr = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return None if _row_hides_bools(arr, values) else arr


def _row_hides_bools(arr: pa.StructArray, values: list[dict[str, Any]]) -> bool:
    """`_hides_bools` for the columns of whole rows inferred at once."""
    t = arr.type
    for i in range(t.num_fields):
        name = t.field(i).name

        def column(name: str = name) -> list[Any]:
            return [v.get(name) for v in values]

        if _hides_bools(arr.field(i), column):
            return True
    return False


def _writable(arr: pa.Array) -> pa.Array | None:
    """An inferred array as Parquet can hold it: null columns as strings, empty objects left out.

    None when nothing of it can be written (an object that is empty in every message).
    """
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_struct(t):
        names, children = [], []
        for i in range(t.num_fields):
            kid = _writable(arr.field(i))
            if kid is not None:
                names.append(t.field(i).name)
                children.append(kid)
        if not children:
            return None
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, names=names, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _writable(arr.values)
        if values is None:
            values = pa.nulls(len(arr.values), pa.string())
        mask = arr.is_null() if arr.null_count else None
        cls = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        return cls.from_arrays(arr.offsets, values, mask=mask)
    return arr


def _byte_array_paths(schema: pa.Schema) -> tuple[list[str], list[str]]:
    """Dotted Parquet column paths of the byte-array leaves, and of all other leaves."""
    byte_arrays: list[str] = []
    others: list[str] = []

    def walk(t: pa.DataType, path: str) -> None:
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                walk(t.field(i).type, f"{path}.{t.field(i).name}")
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            walk(t.value_type, f"{path}.list.element")
        elif pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t):
            byte_arrays.append(path)
        else:
            others.append(path)

    for f in schema:
        walk(f.type, f.name)
    return byte_arrays, others


def _choice(conf: dict[str, Any], name: str, options: Sequence[str], default: str) -> str:
    value = str(conf.get(name) or default)
    for option in options:
        if value.lower() == option.lower():
            return option
    raise ValueError(f"{name}: {value!r} is not one of {', '.join(options)}")


class ParquetEncodeProcessor(Processor):
    """Encodes a batch of JSON documents as one Parquet file."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.columns = parse_schema(conf.get("schema"))
        self.schema = arrow_schema(self.columns) if self.columns else None
        self.convert = row_converter(self.columns) if self.columns else None
        name = _choice(conf, "default_compression", tuple(COMPRESSIONS), "snappy")
        self.compression = COMPRESSIONS[name]
        self.encoding = _choice(conf, "default_encoding", ENCODINGS, ENCODINGS[0])
        unit = _choice(conf, "default_timestamp_unit", tuple(TIMESTAMP_UNITS), "NANOSECOND")
        self.timestamp_unit = TIMESTAMP_UNITS[unit]
        self._layouts: dict[pa.Schema, tuple[list[str], list[str]]] = {}

    def process_batch(self, batch: list[Message]) -> list[Message]:
        values: list[dict[str, Any]] = []
        kept: list[Message] = []
        failed: list[Message] = []
        for msg in batch:
            try:
                value = msg.value
            except PayloadError as exc:
                failed.append(msg.fail(f"parquet_encode: {exc}"))
                continue
            if type(value) is not dict:
                kind = "array" if isinstance(value, list) else type(value).__name__
                failed.append(msg.fail(f"parquet_encode: expected a JSON object, got {kind}"))
                continue
            values.append(value)
            kept.append(msg)
        if not kept:
            return failed
        table, written = self._table(values, kept, failed)
        if not written:
            return failed
        try:
            payload = self._write(table)
        except (pa.ArrowException, ValueError, OSError) as exc:
            reason = f"parquet_encode: writing the file failed: {exc}"
            return [m.fail(reason) for m in written] + failed
        return [Message(payload, dict(written[0].metadata)), *failed]

    # -- building the table ---------------------------------------------------------------
    def _table(
        self, values: list[dict[str, Any]], kept: list[Message], failed: list[Message]
    ) -> tuple[pa.Table, list[Message]]:
        columns, schema = self.columns, self.schema
        if schema is None:
            arr = _inferred(values)
            if arr is None:
                columns = infer_columns(values)
                schema = arrow_schema(columns)
            else:
                inferred = _writable(arr)
                if inferred is None:
                    return pa.table({}), kept
                return pa.Table.from_struct_array(inferred), kept
        try:
            return self._fast(values, columns, schema), kept
        except _NotFast:
            return self._checked(values, kept, failed, columns, schema)

    @staticmethod
    def _fast(
        values: list[dict[str, Any]], columns: Sequence[Column], schema: pa.Schema
    ) -> pa.Table:
        """The batch converted by pyarrow column by column, then checked; _NotFast when unsure."""
        arrays = []
        for col in columns:
            name = col.name
            try:
                raw = pa.array([v.get(name) for v in values])
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                raise _NotFast from None
            if isinstance(raw, pa.ChunkedArray):
                raw = raw.combine_chunks()

            def column(name: str = name) -> list[Any]:
                return [v.get(name) for v in values]

            if _hides_bools(raw, None if col.repeated or col.is_group else column):
                raise _NotFast
            arrays.append(_conform(raw, col))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _checked(
        self,
        values: list[dict[str, Any]],
        kept: list[Message],
        failed: list[Message],
        columns: Sequence[Column],
        schema: pa.Schema,
    ) -> tuple[pa.Table, list[Message]]:
        """Each message checked on its own; misfits are flagged, the rest become the table."""
        convert = self.convert if columns is self.columns and self.convert else None
        convert = convert or row_converter(columns)
        rows: list[dict[str, Any]] = []
        written: list[Message] = []
        for value, msg in zip(values, kept):
            try:
                rows.append(convert(value))
            except Misfit as exc:
                failed.append(msg.fail(f"parquet_encode: {exc}"))
                continue
            written.append(msg)
        try:
            return pa.Table.from_pylist(rows, schema=schema), written
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        good_rows: list[dict[str, Any]] = []
        good: list[Message] = []
        for row, msg in zip(rows, written):
            try:
                pa.Table.from_pylist([row], schema=schema)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                failed.append(msg.fail(f"parquet_encode: {exc}"))
                continue
            good_rows.append(row)
            good.append(msg)
        return pa.Table.from_pylist(good_rows, schema=schema), good

    # -- writing --------------------------------------------------------------------------
    def _write(self, table: pa.Table) -> bytes:
        layout = self._layouts.get(table.schema)
        if layout is None:
            layout = _byte_array_paths(table.schema)
            if len(self._layouts) < 64:
                self._layouts[table.schema] = layout
        byte_arrays, others = layout
        sink = pa.BufferOutputStream()
        pq.write_table(
            table,
            sink,
            compression=self.compression,
            use_dictionary=others,
            column_encoding={path: self.encoding for path in byte_arrays} or None,
            coerce_timestamps=self.timestamp_unit,
            allow_truncated_timestamps=True,
        )
        return bytes(sink.getvalue().to_pybytes())
