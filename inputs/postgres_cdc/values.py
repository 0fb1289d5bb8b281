"""Column values from PostgreSQL's text form to JSON values, chosen by the column's type.

Numbers that fit JSON exactly (integers, floats, booleans) become JSON numbers and booleans,
`json` and `jsonb` the document they hold, arrays lists; `numeric` stays a string so no digit
is lost; timestamps and dates become RFC 3339 text in UTC; `bytea` becomes base64, as Redpanda
Connect writes these types. Every other type keeps PostgreSQL's text.

The text must be written with `DateStyle ISO`, `TimeZone UTC` and `bytea_output hex` (the
input sets them on its sessions).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TypeMap", "parse_array"]

Converter = Callable[[str], Any]

#: OIDs below this are built in (PostgreSQL's FirstNormalObjectId)
FIRST_USER_OID = 16384


def _int(text: str) -> Any:
    return int(text)


def _float(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    # NaN and the infinities have no JSON number: keep PostgreSQL's word for them
    return value if value - value == 0 else text


def _bool(text: str) -> Any:
    return text in ("t", "true")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _bytea(text: str) -> Any:
    if text.startswith("\\x"):
        try:
            return base64.b64encode(bytes.fromhex(text[2:])).decode("ascii")
        except ValueError:
            return text
    return text


_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d(?::?\d\d){0,2})?")


def _timestamp(text: str) -> Any:
    """`2024-05-01 10:00:00.25+00` -> `2024-05-01T10:00:00.25Z` (the session is in UTC)."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:  # infinity, BC dates, years past 9999: PostgreSQL's own text
        return None if text in ("infinity", "-infinity") else text
    day, clock, fraction, offset = m.groups()
    fraction = (fraction or "").rstrip("0").rstrip(".")
    if offset and offset.lstrip("+-").replace(":", "").strip("0"):
        sign, digits = offset[0], offset[1:].replace(":", "")
        return f"{day}T{clock}{fraction}{sign}{digits[:2]}:{digits[2:4] or '00'}"
    return f"{day}T{clock}{fraction}Z"


_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _date(text: str) -> Any:
    if _DATE.fullmatch(text):
        return f"{text}T00:00:00Z"
    return None if text in ("infinity", "-infinity") else text


def _text(text: str) -> Any:
    return text


#: built-in scalar types by OID
SCALARS: dict[int, Converter] = {
    16: _bool,
    17: _bytea,
    20: _int,  # int8
    21: _int,  # int2
    23: _int,  # int4
    26: _int,  # oid
    28: _int,  # xid
    29: _int,  # cid
    114: _json,
    700: _float,  # float4
    701: _float,  # float8
    1082: _date,
    1114: _timestamp,
    1184: _timestamp,  # timestamptz
    3802: _json,  # jsonb
}

#: built-in array types by OID -> their element type
ARRAYS: dict[int, int] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1014: 1042,
    1015: 1043, 1016: 20, 1021: 700, 1022: 701, 1028: 26, 1115: 1114, 1182: 1082,
    1183: 1083, 1185: 1184, 1187: 1186, 1231: 1700, 2951: 2950, 199: 114, 3807: 3802,
    1041: 869, 651: 650, 791: 790, 1270: 1266,
}  # fmt: skip


def parse_array(text: str) -> Any:
    """A PostgreSQL array literal (`{1,2,NULL}`, `{{"a b",c},{d,e}}`) as nested lists of
    element texts, None for NULL (raises ValueError when it is not one)."""
    if text.startswith("["):  # explicit bounds: [0:1]={1,2}
        text = text[text.index("=") + 1 :]
    value, end = _array_at(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected text after the array: {text[end:]!r}")
    return value


def _array_at(text: str, i: int) -> tuple[list[Any], int]:
    if i >= len(text) or text[i] != "{":
        raise ValueError(f"an array starts with '{{': {text!r}")
    items: list[Any] = []
    i += 1
    if i < len(text) and text[i] == "}":
        return items, i + 1
    while True:
        if i >= len(text):
            raise ValueError(f"unterminated array: {text!r}")
        c = text[i]
        if c == "{":
            item, i = _array_at(text, i)
            items.append(item)
        elif c == '"':
            chars: list[str] = []
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                if i < len(text):
                    chars.append(text[i])
                i += 1
            if i >= len(text):
                raise ValueError(f"unterminated quoted element: {text!r}")
            items.append("".join(chars))
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in ",}":
                j += 1
            word = text[i:j].strip()
            items.append(None if word.upper() == "NULL" else word)
            i = j
        if i >= len(text):
            raise ValueError(f"unterminated array: {text!r}")
        if text[i] == ",":
            i += 1
        elif text[i] == "}":
            return items, i + 1
        else:
            raise ValueError(f"unexpected {text[i]!r} in array {text!r}")


def _map_nested(value: Any, convert: Converter) -> Any:
    if isinstance(value, list):
        return [_map_nested(v, convert) for v in value]
    return None if value is None else convert(value)


@dataclass
class TypeMap:
    """How each type OID's text becomes a JSON value; learns user types (domains, enums,
    arrays of them) from `pg_type` rows."""

    #: user types learnt: OID -> ("domain", base OID) | ("array", element OID) | ("text", 0)
    learnt: dict[int, tuple[str, int]] = field(default_factory=dict)

    def known(self, oid: int) -> bool:
        return oid in SCALARS or oid in ARRAYS or oid in self.learnt or oid < FIRST_USER_OID

    def unknown(self, oids: Iterable[int]) -> set[int]:
        """The OIDs of `oids` this map knows nothing about yet (user-defined types)."""
        return {oid for oid in oids if not self.known(oid)}

    def learn(self, oid: int, kind: str, base: int = 0) -> None:
        """`kind` "domain" (over `base`), "array" (of `base`) or "text" (anything else)."""
        self.learnt[oid] = (kind, base)

    def converter(self, oid: int, depth: int = 0) -> Converter:
        if oid in SCALARS:
            return SCALARS[oid]
        element = ARRAYS.get(oid)
        kind, base = self.learnt.get(oid, ("text", 0))
        if element is None and kind == "array":
            element = base
        if element is not None and depth < 8:
            of = self.converter(element, depth + 1)
            return lambda text: _array(text, of)
        if kind == "domain" and depth < 8:
            return self.converter(base, depth + 1)
        return _text

    def value(self, oid: int, text: bytes | str) -> Any:
        """The JSON value of one column's text."""
        raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        try:
            return self.converter(oid)(raw)
        except ValueError:
            return raw


def _array(text: str, convert: Converter) -> Any:
    try:
        return _map_nested(parse_array(text), convert)
    except ValueError:
        return text
