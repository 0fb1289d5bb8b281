"""Parquet schemas for `parquet_encode`: the Benthos-style field list, row checks, inference.

A schema is a list of columns `{name, type, optional, repeated, fields}`. A column with
`fields` is a group (an Arrow struct); `repeated` makes any column a list; a column that is
not `optional` must be present and non-null in every message (and, when repeated, so must its
items). Timestamps are written as `timestamp[ns, UTC]` and read from RFC 3339 strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.timefmt.gotime import unix_nanos

__all__ = [
    "TYPES",
    "Column",
    "Misfit",
    "describe",
    "infer_columns",
    "parse_column",
    "parse_schema",
    "row_converter",
    "timestamp_nanos",
]

#: leaf types as Benthos names them, plus TIMESTAMP (RFC 3339 strings)
TYPES = ("BOOLEAN", "INT32", "INT64", "FLOAT", "DOUBLE", "BYTE_ARRAY", "UTF8", "TIMESTAMP")

_KEYS = ("name", "type", "optional", "repeated", "fields")
_INT_RANGES = {"INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1)}
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Column:
    """One schema column: a leaf with a `type`, or a group with `fields`."""

    name: str
    type: str | None = None
    optional: bool = False
    repeated: bool = False
    fields: tuple[Column, ...] = field(default=())

    @property
    def is_group(self) -> bool:
        return self.type is None

    def item(self) -> Column:
        """The column of one item of a repeated column."""
        return replace(self, repeated=False)


# -- parsing the config --------------------------------------------------------------------


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def parse_column(raw: Any, where: str = "schema[0]") -> Column:
    """One column from its config; ValueError names the place (`schema[2].fields[0] (x): ...`)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object with name and type, got {raw!r}")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; choose from {', '.join(_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: name is required")
    here = f"{where} ({name})"
    optional = _flag(raw, "optional", here)
    repeated = _flag(raw, "repeated", here)
    kids = raw.get("fields") or []
    kind = raw.get("type") or None
    if kids:
        if kind is not None:
            raise ValueError(f"{here}: a group has fields and no type, got type {kind!r}")
        if not isinstance(kids, list):
            raise ValueError(f"{here}.fields: expected a list of columns")
        fields = _parse_columns(kids, f"{where}.fields")
        return Column(name, None, optional, repeated, fields)
    if kind is None:
        raise ValueError(f"{here}: type is required (one of {', '.join(TYPES)}) unless fields")
    if not isinstance(kind, str) or kind.upper() not in TYPES:
        raise ValueError(f"{here}: unknown type {kind!r}; choose one of {', '.join(TYPES)}")
    return Column(name, kind.upper(), optional, repeated)


def _parse_columns(raw: Sequence[Any], where: str) -> tuple[Column, ...]:
    columns = tuple(parse_column(item, f"{where}[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, col in enumerate(columns):
        if col.name in seen:
            raise ValueError(f"{where}[{i}] ({col.name}): name used twice")
        seen.add(col.name)
    return columns


def parse_schema(raw: Any) -> tuple[Column, ...]:
    """The `schema` field; an empty or missing list means: infer it from each batch."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"schema: expected a list of columns, got {type(raw).__name__}")
    return _parse_columns(raw, "schema")


def describe(col: Column) -> str:
    """How a column reads in an error: `DOUBLE`, `list of INT64`, `object`."""
    base = "object" if col.is_group else str(col.type)
    return f"list of {base}" if col.repeated else base


# -- checking and normalising one message --------------------------------------------------


class Misfit(Exception):
    """A value does not fit its column; `path` names the field (`timestamps.device_time`)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _show(value: Any) -> str:
    """A value's JSON type and a short sample, for errors."""
    names = {bool: "bool", int: "number", float: "number", str: "string", dict: "object"}
    kind = names.get(type(value), "array" if isinstance(value, list) else type(value).__name__)
    sample = repr(value)
    return f"{kind} {sample[:40] + '...' if len(sample) > 40 else sample}"


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?"
    r"(?:Z|([+-])(\d\d)(?::?(\d\d))?)"
)


def timestamp_nanos(value: Any) -> int:
    """Unix nanoseconds of an RFC 3339 string (or a datetime); ValueError when it is not one."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return unix_nanos(value)
    if not isinstance(value, str):
        raise ValueError("not a string")
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise ValueError("not an RFC 3339 time")
    y, mo, d, h, mi = (int(g) for g in m.group(1, 2, 3, 4, 5))
    sec = int(m.group(6) or 0)
    offset = 0
    if m.group(8):
        offset = int(m.group(9)) * 60 + int(m.group(10) or 0)
        offset = -offset if m.group(8) == "-" else offset
    try:
        wall = datetime(y, mo, d, h, mi, sec, tzinfo=timezone(timedelta(minutes=offset)))
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    frac = m.group(7)
    return unix_nanos(wall) + (int(frac.ljust(9, "0")) if frac else 0)


Convert = Callable[[Any, str], Any]


def _leaf(kind: str) -> Convert:
    """A converter of one leaf value to what Arrow takes for the column's type."""

    def boolean(v: Any, path: str) -> Any:
        if type(v) is bool:
            return v
        raise Misfit(path, f"expected BOOLEAN, got {_show(v)}")

    def integer(v: Any, path: str) -> Any:
        low, high = _INT_RANGES[kind]
        if type(v) is float and v.is_integer():
            v = int(v)
        if type(v) is not int:
            raise Misfit(path, f"expected {kind}, got {_show(v)}")
        if not low <= v <= high:
            raise Misfit(path, f"{v} is out of range for {kind}")
        return v

    def number(v: Any, path: str) -> Any:
        if type(v) is int:
            v = float(v)
        if type(v) is not float:
            raise Misfit(path, f"expected {kind}, got {_show(v)}")
        if kind == "FLOAT" and math.isfinite(v) and abs(v) > _FLOAT32_MAX:
            raise Misfit(path, f"{v} is out of range for FLOAT")
        return v

    def utf8(v: Any, path: str) -> Any:
        if type(v) is str:
            return v
        if isinstance(v, (bytes, bytearray)):
            try:
                return bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                raise Misfit(path, "expected UTF8, got bytes that are not UTF-8") from None
        raise Misfit(path, f"expected UTF8, got {_show(v)}")

    def byte_array(v: Any, path: str) -> Any:
        if type(v) is str:
            return v.encode("utf-8")
        if isinstance(v, (bytes, bytearray)):
            return bytes(v)
        raise Misfit(path, f"expected BYTE_ARRAY (a string), got {_show(v)}")

    def timestamp(v: Any, path: str) -> Any:
        try:
            ns = timestamp_nanos(v)
        except (ValueError, OverflowError) as exc:
            raise Misfit(path, f"expected an RFC 3339 TIMESTAMP, got {_show(v)} ({exc})") from None
        if not -(2**63) <= ns < 2**63:
            raise Misfit(path, f"{v!r} is outside the years 1677-2262 a TIMESTAMP holds")
        return ns

    table: dict[str, Convert] = {
        "BOOLEAN": boolean,
        "INT32": integer,
        "INT64": integer,
        "FLOAT": number,
        "DOUBLE": number,
        "UTF8": utf8,
        "BYTE_ARRAY": byte_array,
        "TIMESTAMP": timestamp,
    }
    return table[kind]


def _converter(col: Column) -> Convert:
    """A converter for a column's value: checks it and returns it in Arrow's terms."""
    if col.repeated:
        item = _converter(col.item())
        optional = col.optional

        def repeated(v: Any, path: str) -> Any:
            if v is None:
                if optional:
                    return None
                raise Misfit(path, "missing required field")
            if not isinstance(v, list):
                raise Misfit(path, f"expected {describe(col)}, got {_show(v)}")
            return [item(x, f"{path}[{i}]") for i, x in enumerate(v)]

        return repeated
    inner = _group(col) if col.is_group else _leaf(col.type or "")
    if col.optional:

        def nullable(v: Any, path: str) -> Any:
            return None if v is None else inner(v, path)

        return nullable

    def required(v: Any, path: str) -> Any:
        if v is None:
            raise Misfit(path, "missing required field")
        return inner(v, path)

    return required


def _group(col: Column) -> Convert:
    children = [(c.name, _converter(c)) for c in col.fields]

    def group(v: Any, path: str) -> Any:
        if not isinstance(v, dict):
            raise Misfit(path, f"expected an object, got {_show(v)}")
        return {name: conv(v.get(name), f"{path}.{name}") for name, conv in children}

    return group


def row_converter(columns: Sequence[Column]) -> Callable[[Any], dict[str, Any]]:
    """Checks one message against the schema; returns the row Arrow takes, or raises Misfit."""
    convs = [(c.name, _converter(c)) for c in columns]

    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Misfit("(message)", f"expected a JSON object, got {_show(value)}")
        return {name: conv(value.get(name), name) for name, conv in convs}

    return convert


# -- inference -----------------------------------------------------------------------------

_PY_TYPES: dict[type, str] = {
    bool: "BOOLEAN",
    int: "INT64",
    float: "DOUBLE",
    str: "UTF8",
    bytes: "BYTE_ARRAY",
    bytearray: "BYTE_ARRAY",
}


class _Guess:
    """What the messages of a batch say about one field (first type seen wins)."""

    __slots__ = ("kind", "repeated", "item", "fields")

    def __init__(self) -> None:
        self.kind: str | None = None  # a leaf type, "GROUP", or None while only nulls were seen
        self.repeated: bool | None = None
        self.item: _Guess | None = None
        self.fields: dict[str, _Guess] = {}

    def see(self, v: Any) -> None:
        if v is None:
            return
        if isinstance(v, list):
            if self.repeated is None:
                self.repeated = True
                self.item = _Guess()
            if self.repeated and self.item is not None:
                for x in v:
                    if not isinstance(x, list):
                        self.item.see(x)
            return
        if self.repeated is None:
            self.repeated = False
        if self.repeated:
            return
        kind = "GROUP" if isinstance(v, dict) else _PY_TYPES.get(type(v))
        if kind is None and isinstance(v, datetime):
            kind = "TIMESTAMP"
        if self.kind is None:
            self.kind = kind
        elif self.kind == "INT64" and kind == "DOUBLE":
            self.kind = "DOUBLE"
        if kind == "GROUP" and self.kind == "GROUP":
            for key, x in v.items():
                self.fields.setdefault(str(key), _Guess()).see(x)

    def column(self, name: str) -> Column | None:
        if self.repeated:
            inner = self.item.column(name) if self.item is not None else None
            return replace(inner or Column(name, "UTF8", True), repeated=True)
        if self.kind == "GROUP":
            kids = [c for k, g in self.fields.items() if (c := g.column(k)) is not None]
            return Column(name, None, True, False, tuple(kids)) if kids else None
        return Column(name, self.kind or "UTF8", True)


def infer_columns(rows: Sequence[Any]) -> tuple[Column, ...]:
    """A schema from a batch: the union of keys; each field's type from its first value
    (whole numbers widen to DOUBLE beside fractions); every field optional; objects become
    groups and arrays repeated columns. Objects that are empty in every message are left out.
    """
    top = _Guess()
    top.kind = "GROUP"
    top.repeated = False
    for row in rows:
        if isinstance(row, dict):
            top.see(row)
    col = top.column("")
    return col.fields if col is not None else ()
