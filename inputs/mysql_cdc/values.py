"""Column values, from the snapshot's queries and from the binlog alike, to JSON values as
Redpanda Connect writes them.

Integers (BIT too) and floats become JSON numbers (a FLOAT as its shortest single-precision
text), DECIMAL a string with every digit, DATE, DATETIME and TIMESTAMP RFC 3339 text in UTC
(`2024-05-01T10:00:00.25Z`), TIME its `HH:MM:SS` text, JSON the document (MariaDB's JSON
columns too, recognised by their `json_valid` check), SET a list, binary strings and BLOBs
base64, NULL `null`; ENUM and the text types stay text. A column's declared type decides, so
a row reads the same whether it came from the snapshot or the binlog.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Column", "TableSchema"]

_INTEGERS = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_SPATIAL = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection",
}  # fmt: skip
_MEMBER = re.compile(r"'((?:[^']|'')*)'")


def _members(column_type: str) -> list[str]:
    """The members of `enum('a','b')` or `set('x','y')`, in their declared order."""
    inner = column_type[column_type.find("(") + 1 : column_type.rfind(")")]
    return [m.replace("''", "'") for m in _MEMBER.findall(inner)]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    return int(value)


def _bit(value: Any) -> Any:
    if isinstance(value, str):  # the binlog reader spells bits out: '101'
        return int(value, 2) if value else 0
    return _int(value)


def _float32(value: Any) -> Any:
    """The shortest decimal that reads back as the same single-precision float."""
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return None
    try:
        packed = struct.pack("<f", number)
    except OverflowError:
        return number
    for digits in range(6, 10):
        short = float(f"{number:.{digits}g}")
        if struct.pack("<f", short) == packed:
            return short
    return number


def _double(value: Any) -> Any:
    number = float(value)
    return number if number - number == 0 else None


def _decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return _text(value)


def rfc3339(value: dt.datetime) -> str:
    """`2024-05-01T10:00:00.25Z`: the value in UTC (naive values are UTC), fraction trimmed."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _datetime(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return rfc3339(dt.datetime(value.year, value.month, value.day))
    return None  # zero dates ('0000-00-00') and others without a time


def _time(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        micros = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
        sign = "-" if micros < 0 else ""
        seconds, fraction = divmod(abs(micros), 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        text = f"{sign}{hour:02d}:{minute:02d}:{second:02d}"
        return text + (f".{fraction:06d}".rstrip("0") if fraction else "")
    if isinstance(value, dt.time):
        return value.isoformat()
    return _text(value)


def _plain(value: Any) -> Any:
    """JSON's own types as they are; bytes keys and strings (the binlog's JSON) as text."""
    if isinstance(value, dict):
        return {_text(k) if isinstance(k, bytes) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return _text(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes, bytearray)):
        try:
            return json.loads(value)
        except ValueError:
            return _text(value)
    return _plain(value)


def _binary(value: Any) -> Any:
    if isinstance(value, str):
        value = value.encode("utf-8", errors="surrogateescape")
    return base64.b64encode(bytes(value)).decode("ascii")


@dataclass
class Column:
    """A column as information_schema describes it, and how its values become JSON."""

    name: str
    data_type: str
    column_type: str
    json: bool = False
    convert: Callable[[Any], Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.convert = self._converter()

    def _converter(self) -> Callable[[Any], Any]:
        kind = self.data_type.lower()
        if self.json or kind == "json":
            return _json
        if kind in _INTEGERS:
            return _int
        if kind == "bit":
            return _bit
        if kind in ("decimal", "numeric"):
            return _decimal
        if kind == "float":
            return _float32
        if kind in ("double", "real"):
            return _double
        if kind in ("date", "datetime", "timestamp"):
            return _datetime
        if kind == "time":
            return _time
        if kind in _BINARY or kind in _SPATIAL:
            return _binary
        if kind == "set":
            order = {m: i for i, m in enumerate(_members(self.column_type))}

            def members(value: Any) -> Any:
                items = value.split(",") if isinstance(value, str) else [_text(v) for v in value]
                return sorted((i for i in items if i), key=lambda m: order.get(m, len(order)))

            return members
        return _text

    def value(self, raw: Any) -> Any:
        return None if raw is None else self.convert(raw)


@dataclass
class TableSchema:
    """The columns of one table, in their order."""

    name: str
    columns: list[Column]

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.columns}

    def row(self, values: dict[str, Any]) -> dict[str, Any]:
        """A row the binlog reader decoded (by column name) as a JSON object."""
        out: dict[str, Any] = {}
        for name, raw in values.items():
            column = self._by_name.get(name)
            out[name] = None if raw is None else column.convert(raw) if column else _fallback(raw)
        return out

    def row_of(self, names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
        """A row of a query's result as a JSON object."""
        out: dict[str, Any] = {}
        for name, raw in zip(names, values):
            column = self._by_name.get(name)
            out[name] = None if raw is None else column.convert(raw) if column else _fallback(raw)
        return out


def _fallback(value: Any) -> Any:
    """A column the schema does not know yet (added since it was read): by its Python type."""
    if isinstance(value, (bytes, bytearray)):
        return _binary(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return _datetime(value)
    if isinstance(value, dt.timedelta):
        return _time(value)
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_text(v) for v in value)
    return _plain(value)
