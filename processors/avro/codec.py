"""Avro with fastavro: a schema parsed once, JSON <-> Avro values (framing: `_avro_wire`).

Converters are compiled once per schema and only touch what needs it (logical types, bytes,
unions); a record of plain fields goes to fastavro as it is. In JSON:

* timestamps (`timestamp-millis`, `timestamp-micros`, `local-timestamp-*`) are RFC 3339 strings
  (unix numbers in the schema's unit and datetimes are accepted when encoding);
* `date` is `YYYY-MM-DD`, `time-millis` / `time-micros` are `HH:MM:SS[.ffffff]`, `uuid` a string;
* `decimal` is a string, keeping every digit (numbers are accepted when encoding);
* `bytes` and `fixed` are strings whose code points 0-255 are the bytes (the Avro JSON rule);
* unions: with `raw_json` the bare value; otherwise Avro JSON, `{"<type name>": value}` (bare
  values that fit a branch are accepted when encoding too).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import fastavro
from fastavro.validation import ValidationError
from fastavro.validation import validate as _validate

from streamforge.processors.avro.wire import AvroValueError
from streamforge.timefmt.gotime import format_rfc3339_nano
from streamforge.timefmt.timestamps import time_nanos

__all__ = ["AvroCodec", "parse_schema_text"]

Converter = Callable[[Any], Any]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
#: nanoseconds per unit of each timestamp logical type
_TIMESTAMP_UNITS = {
    "timestamp-millis": 1_000_000,
    "timestamp-micros": 1_000,
    "timestamp-nanos": 1,
    "local-timestamp-millis": 1_000_000,
    "local-timestamp-micros": 1_000,
    "local-timestamp-nanos": 1,
}
_INT32 = (-(2**31), 2**31 - 1)


def parse_schema_text(text: str) -> Any:
    """A schema's JSON text parsed by fastavro; ValueError saying what is wrong."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"schema is not JSON: {exc}") from None
    try:
        return fastavro.parse_schema(schema)
    except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds for bad schemas
        raise ValueError(f"not a valid Avro schema: {exc}") from None


# -- values ------------------------------------------------------------------------------------


def _text_bytes(value: Any) -> Any:
    if type(value) is str:
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")
    return value


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def _type_name(schema: Any) -> str:
    """The name a union branch goes by: a named type's full name, else its type."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    kind = schema["type"]
    if kind in _NAMED:
        return str(schema["name"])
    return kind if isinstance(kind, str) else _type_name(kind)


def _describe(schema: Any) -> str:
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        if logical:
            return f"{schema['type']} ({logical})"
        if schema.get("type") == "enum":
            return f"enum {schema['name']} of {', '.join(schema['symbols'])}"
    if isinstance(schema, list):
        return "union [" + ", ".join(_type_name(b) for b in schema) + "]"
    return _type_name(schema)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Branch:
    """One union branch: the names it answers to, what values it takes, its converter."""

    __slots__ = ("name", "names", "accepts", "convert", "kind")

    def __init__(
        self,
        name: str,
        names: frozenset[str],
        kind: str,
        accepts: Callable[[Any], bool],
        convert: Converter | None,
    ) -> None:
        self.name = name
        self.names = names
        self.kind = kind
        self.accepts = accepts
        self.convert = convert


class _Compiler:
    """Builds the converters of one parsed schema (each direction, JSON flavour chosen once)."""

    def __init__(self, parsed: Any, raw_json: bool) -> None:
        self.named: dict[str, Any] = (
            dict(parsed.get("__named_schemas", {})) if isinstance(parsed, dict) else {}
        )
        self.raw = raw_json
        self._memo: dict[tuple[str, str], Converter | None | str] = {}

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return self.named.get(schema, schema)
        if isinstance(schema, dict) and not isinstance(schema.get("type"), str):
            return self.resolve(schema["type"])
        return schema

    def _memoised(
        self, direction: str, schema: Any, build: Callable[[], Converter | None]
    ) -> Converter | None:
        """Named records compile once; a recursive reference looks the converter up when run."""
        if not (isinstance(schema, dict) and schema.get("type") in ("record", "error")):
            return build()
        key = (direction, str(schema["name"]))
        if key in self._memo:
            found = self._memo[key]
            if found == "pending":
                memo = self._memo

                def late(v: Any) -> Any:
                    conv = memo[key]
                    return conv(v) if callable(conv) else v

                return late
            return found if callable(found) else None
        self._memo[key] = "pending"
        conv = build()
        self._memo[key] = conv
        return conv

    # -- JSON -> Avro -----------------------------------------------------------------------
    def to_avro(self, schema: Any, path: str) -> Converter | None:
        schema = self.resolve(schema)
        return self._memoised("w", schema, lambda: self._to_avro(schema, path))

    def _to_avro(self, schema: Any, path: str) -> Converter | None:
        if isinstance(schema, list):
            return self._union_to_avro(schema, path)
        if isinstance(schema, str):
            return _text_bytes if schema == "bytes" else None
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical in _TIMESTAMP_UNITS:
            return _timestamp_to_avro(_TIMESTAMP_UNITS[logical], path)
        if logical == "date" and kind == "int":
            return _parsed_text(_dt.date.fromisoformat, "a date (YYYY-MM-DD)", path)
        if logical in ("time-millis", "time-micros"):
            return _parsed_text(_dt.time.fromisoformat, "a time (HH:MM:SS)", path)
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return _decimal_to_avro(int(schema.get("scale", 0)), path)
        if kind in ("bytes", "fixed"):
            return _text_bytes
        if kind == "array":
            item = self.to_avro(schema["items"], path + "[]")
            if item is None:
                return None
            return lambda v: [item(x) for x in v] if type(v) is list else v
        if kind == "map":
            val = self.to_avro(schema["values"], path + "{}")
            if val is None:
                return None
            return lambda v: {k: val(x) for k, x in v.items()} if type(v) is dict else v
        if kind in ("record", "error"):
            return self._record(schema, path, self.to_avro)
        return None

    def _record(
        self, schema: Any, path: str, compile_one: Callable[[Any, str], Converter | None]
    ) -> Converter | None:
        fields: list[tuple[str, Converter]] = []
        for field in schema["fields"]:
            name = field["name"]
            conv = compile_one(field["type"], f"{path}.{name}" if path else name)
            if conv is not None:
                fields.append((name, conv))
        if not fields:
            return None

        def record(v: Any) -> Any:
            if type(v) is not dict:
                return v
            out = dict(v)
            for name, conv in fields:
                if name in out:
                    out[name] = conv(out[name])
            return out

        return record

    def _union_to_avro(self, schema: list[Any], path: str) -> Converter | None:
        branches = [self._branch(b, path, self.to_avro) for b in schema]
        wrapped = not self.raw
        if not wrapped and all(b.convert is None for b in branches):
            return None  # fastavro picks the branch of a bare value the same way
        by_name = {n: b for b in branches for n in b.names}
        has_double = any(b.kind == "double" for b in branches)
        where = f"{path}: " if path else ""
        described = _describe(schema)

        def union(v: Any) -> Any:
            if v is None:
                return None
            if wrapped and type(v) is dict and len(v) == 1:
                ((key, inner),) = v.items()
                branch = by_name.get(key)
                if branch is not None:
                    return (branch.name, branch.convert(inner) if branch.convert else inner)
            for branch in branches:
                if branch.accepts(v):
                    if branch.kind == "float" and has_double and type(v) is float:
                        continue
                    return (branch.name, branch.convert(v) if branch.convert else v)
            raise AvroValueError(f"{where}{_show(v)} fits none of the {described}")

        return union

    def _branch(
        self, schema: Any, path: str, compile_one: Callable[[Any, str], Converter | None]
    ) -> _Branch:
        resolved = self.resolve(schema)
        name = _type_name(resolved)
        names = {name}
        kind = resolved if isinstance(resolved, str) else resolved["type"]
        if isinstance(resolved, dict):
            logical = resolved.get("logicalType")
            if logical:
                names.add(f"{kind}.{logical}")
                kind = str(logical) if logical in _ACCEPTS else kind
            if resolved["type"] in _NAMED:
                names.add(name.rsplit(".", 1)[-1])
        accepts = _ACCEPTS.get(kind, _accepts_nothing)
        if kind in ("record", "error"):
            required = frozenset(f["name"] for f in resolved["fields"] if "default" not in f)
            accepts = _record_accepts(required)
        elif kind == "enum":
            symbols = frozenset(resolved["symbols"])
            accepts = lambda v: type(v) is str and v in symbols  # noqa: E731
        elif kind == "fixed":
            size = resolved["size"]
            accepts = _fixed_accepts(size)
        return _Branch(name, frozenset(names), kind, accepts, compile_one(resolved, path))

    # -- Avro -> JSON -----------------------------------------------------------------------
    def to_json(self, schema: Any, path: str) -> Converter | None:
        schema = self.resolve(schema)
        return self._memoised("r", schema, lambda: self._to_json(schema, path))

    def _to_json(self, schema: Any, path: str) -> Converter | None:
        if isinstance(schema, list):
            return self._union_to_json(schema, path)
        if isinstance(schema, str):
            return _bytes_text if schema == "bytes" else None
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical in _TIMESTAMP_UNITS:
            return _timestamp_to_json
        if logical in ("date", "time-millis", "time-micros"):
            return lambda v: v.isoformat() if isinstance(v, (_dt.date, _dt.time)) else v
        if logical == "uuid":
            return lambda v: str(v) if isinstance(v, uuid.UUID) else v
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return lambda v: format(v, "f") if isinstance(v, Decimal) else v
        if kind in ("bytes", "fixed"):
            return _bytes_text
        if kind == "array":
            item = self.to_json(schema["items"], path)
            if item is None:
                return None
            return lambda v: [item(x) for x in v]
        if kind == "map":
            val = self.to_json(schema["values"], path)
            if val is None:
                return None
            return lambda v: {k: val(x) for k, x in v.items()}
        if kind in ("record", "error"):
            return self._record(schema, path, self.to_json)
        return None

    def _union_to_json(self, schema: list[Any], path: str) -> Converter | None:
        branches = [self._branch(b, path, self.to_json) for b in schema]
        raw = self.raw
        named = any(isinstance(self.resolve(b), dict) and self.resolve(b)["type"] in _NAMED
                    for b in schema)  # fmt: skip
        if raw and not named and all(b.convert is None for b in branches):
            return None
        by_name = {n: b for b in branches for n in b.names}
        readers = [(b, _READER_ACCEPTS.get(b.kind, b.accepts)) for b in branches]

        def union(v: Any) -> Any:
            if v is None:
                return None
            branch: _Branch | None = None
            if type(v) is tuple and len(v) == 2 and isinstance(v[0], str):
                branch = by_name.get(v[0])
                v = v[1]
            if branch is None:
                branch = next((b for b, accepts in readers if accepts(v)), None)
            if branch is None:
                return v
            out = branch.convert(v) if branch.convert else v
            return out if raw else {branch.name: out}

        return union


def _accepts_nothing(v: Any) -> bool:
    return False


def _record_accepts(required: frozenset[str]) -> Callable[[Any], bool]:
    return lambda v: type(v) is dict and required.issubset(v)


def _fixed_accepts(size: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (str, bytes)) and len(v) == size


def _accepts_time_text(v: Any) -> bool:
    return type(v) is str or type(v) is int or isinstance(v, _dt.datetime)


#: which JSON (or Python) values each union branch kind takes when encoding
_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: type(v) is bool,
    "int": lambda v: type(v) is int and _INT32[0] <= v <= _INT32[1],
    "long": _is_int,
    "float": _is_number,
    "double": _is_number,
    "string": lambda v: type(v) is str,
    "bytes": lambda v: isinstance(v, (str, bytes)),
    "array": lambda v: type(v) is list,
    "map": lambda v: type(v) is dict,
    "timestamp-millis": _accepts_time_text,
    "timestamp-micros": _accepts_time_text,
    "timestamp-nanos": _accepts_time_text,
    "local-timestamp-millis": _accepts_time_text,
    "local-timestamp-micros": _accepts_time_text,
    "local-timestamp-nanos": _accepts_time_text,
    "date": lambda v: type(v) in (str, int) or isinstance(v, _dt.date),
    "time-millis": lambda v: type(v) in (str, int) or isinstance(v, _dt.time),
    "time-micros": lambda v: type(v) in (str, int) or isinstance(v, _dt.time),
    "uuid": lambda v: type(v) is str or isinstance(v, uuid.UUID),
    "decimal": lambda v: type(v) in (str, int, float) or isinstance(v, Decimal),
}

#: which decoded Python values each union branch kind produced (when fastavro does not say)
_READER_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "float": lambda v: type(v) is float,
    "double": lambda v: type(v) is float,
    "bytes": lambda v: type(v) is bytes,
    "timestamp-millis": lambda v: isinstance(v, _dt.datetime),
    "timestamp-micros": lambda v: isinstance(v, _dt.datetime),
    "timestamp-nanos": lambda v: isinstance(v, _dt.datetime),
    "local-timestamp-millis": lambda v: isinstance(v, _dt.datetime),
    "local-timestamp-micros": lambda v: isinstance(v, _dt.datetime),
    "local-timestamp-nanos": lambda v: isinstance(v, _dt.datetime),
    "date": lambda v: type(v) is _dt.date,
    "time-millis": lambda v: isinstance(v, _dt.time),
    "time-micros": lambda v: isinstance(v, _dt.time),
    "uuid": lambda v: isinstance(v, uuid.UUID),
    "decimal": lambda v: isinstance(v, Decimal),
}


def _bytes_text(v: Any) -> Any:
    return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else v


def _timestamp_to_json(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        return format_rfc3339_nano(v) if v.tzinfo is not None else v.isoformat()
    return v


def _timestamp_to_avro(unit_ns: int, path: str) -> Converter:
    where = f"{path}: " if path else ""

    def convert(v: Any) -> Any:
        if type(v) is not str:
            return int(v) if type(v) is float and v.is_integer() else v
        try:
            return time_nanos(v) // unit_ns
        except ValueError as exc:
            raise AvroValueError(f"{where}{exc}") from None

    return convert


def _parsed_text(parse: Callable[[str], Any], what: str, path: str) -> Converter:
    where = f"{path}: " if path else ""

    def convert(v: Any) -> Any:
        if type(v) is not str:
            return v
        try:
            return parse(v)
        except ValueError:
            raise AvroValueError(f"{where}{_show(v)} is not {what}") from None

    return convert


def _decimal_to_avro(scale: int, path: str) -> Converter:
    where = f"{path}: " if path else ""
    quantum = Decimal(1).scaleb(-scale)

    def convert(v: Any) -> Any:
        if type(v) not in (str, int, float) and not isinstance(v, Decimal):
            return v
        try:
            number = Decimal(str(v)) if not isinstance(v, Decimal) else v
            fitted = number.quantize(quantum)
        except InvalidOperation:
            raise AvroValueError(f"{where}{_show(v)} is not a decimal number") from None
        if fitted != number:
            raise AvroValueError(f"{where}{_show(v)} has more than {scale} decimal places")
        return fitted

    return convert


def _untupled(v: Any) -> Any:
    """A value with union branches chosen as `(name, value)` given bare (for the validator)."""
    t = type(v)
    if t is tuple and len(v) == 2 and isinstance(v[0], str):
        return _untupled(v[1])
    if t is dict:
        return {k: _untupled(x) for k, x in v.items()}
    if t is list:
        return [_untupled(x) for x in v]
    return v


# -- the codec ---------------------------------------------------------------------------------


class AvroCodec:
    """One parsed schema with its compiled converters: JSON values in, Avro bytes out, and back."""

    __slots__ = ("parsed", "raw_json", "_to_avro", "_to_json", "_record_names")

    def __init__(self, schema: Any, *, raw_json: bool = True) -> None:
        if isinstance(schema, str):
            self.parsed = parse_schema_text(schema)
        else:
            try:
                self.parsed = fastavro.parse_schema(schema)
            except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds
                raise ValueError(f"not a valid Avro schema: {exc}") from None
        self.raw_json = raw_json
        compiler = _Compiler(self.parsed, raw_json)
        self._to_avro = compiler.to_avro(self.parsed, "")
        self._to_json = compiler.to_json(self.parsed, "")
        self._record_names = sorted(
            (n for n, s in compiler.named.items() if s.get("type") in ("record", "error")),
            key=len,
            reverse=True,
        )

    def to_avro_value(self, value: Any) -> Any:
        """A JSON value as the Python value fastavro writes (no copy when nothing changes)."""
        return self._to_avro(value) if self._to_avro is not None else value

    def to_json_value(self, native: Any) -> Any:
        """A value fastavro read as a JSON value."""
        return self._to_json(native) if self._to_json is not None else native

    def encode(self, value: Any) -> bytes:
        """Avro binary of a JSON value; AvroValueError naming the field that does not fit."""
        datum = self._to_avro(value) if self._to_avro is not None else value
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, self.parsed, datum)
        except AvroValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - fastavro raises TypeError, ValueError, ...
            raise AvroValueError(self._write_error(datum, exc)) from None
        return buf.getvalue()

    def decode(self, data: bytes, offset: int = 0) -> Any:
        """The JSON value of Avro binary `data[offset:]`; AvroValueError when it is not."""
        buf = io.BytesIO(data)
        if offset:
            buf.seek(offset)
        try:
            native = fastavro.schemaless_reader(
                buf, self.parsed, None, return_record_name=True, return_named_type=True
            )
        except Exception as exc:  # noqa: BLE001 - truncated or foreign bytes fail many ways
            reason = str(exc) or type(exc).__name__
            raise AvroValueError(f"not Avro data of this schema: {reason}") from None
        left = len(data) - buf.tell()
        if left:
            raise AvroValueError(
                f"{left} bytes left after the value: the data was not written with this schema"
            )
        return self._to_json(native) if self._to_json is not None else native

    def encode_textual(self, value: Any) -> bytes:
        """The Avro JSON encoding (the spec's textual form) of a JSON value."""
        datum = self._to_avro(value) if self._to_avro is not None else value
        out = io.StringIO()
        try:
            fastavro.json_writer(out, self.parsed, [datum])
        except AvroValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in encode
            raise AvroValueError(self._write_error(datum, exc)) from None
        return out.getvalue().rstrip("\n").encode("utf-8")

    def decode_textual(self, data: bytes) -> Any:
        """The JSON value of one document in the Avro JSON encoding."""
        try:
            line = json.dumps(json.loads(data), separators=(",", ":"))
            native = next(iter(fastavro.json_reader(io.StringIO(line), self.parsed)))
        except Exception as exc:  # noqa: BLE001 - bad JSON or values of other types
            reason = str(exc) or type(exc).__name__
            raise AvroValueError(f"not Avro JSON of this schema: {reason}") from None
        return self._to_json(native) if self._to_json is not None else native

    # -- errors -----------------------------------------------------------------------------
    def _write_error(self, datum: Any, exc: Exception) -> str:
        """Say which field did not fit, found again with fastavro's validator."""
        try:
            _validate(_untupled(datum), self.parsed, raise_errors=True)
        except ValidationError as invalid:
            problems = invalid.errors
            if problems:
                first = problems[0]
                where = self._field_path(str(first.field or "")) or "value"
                if len(problems) > 1 and all(p.field == first.field for p in problems):
                    union = _describe([p.schema for p in problems])
                    return f"{where}: {_show(first.datum)} fits none of the {union}"
                expected = _describe(first.schema)
                if first.datum is None:
                    return f"{where}: missing (expected {expected})"
                return f"{where}: {_show(first.datum)} is not {expected}"
        except Exception:  # noqa: BLE001 - the original error is reported instead
            pass
        return str(exc) or type(exc).__name__

    def _field_path(self, raw: str) -> str:
        """fastavro's `Rec.field.Inner.field` as `field.field` (record names dropped)."""
        parts: list[str] = []
        rest = raw
        while rest:
            name = next((n for n in self._record_names if rest.startswith(n + ".")), None)
            if name is None:
                parts.append(rest)
                break
            rest = rest[len(name) + 1 :]
            field, _, rest = rest.partition(".")
            parts.append(field)
        return ".".join(parts)
