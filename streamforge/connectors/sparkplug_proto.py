"""Sparkplug B payloads on the protobuf wire: decode and encode, without a protobuf library.

The messages are those of the Sparkplug B specification (`org.eclipse.tahu.protobuf.Payload`,
proto2): a Payload holds a timestamp, a sequence number, a uuid, a body and Metrics; a Metric
holds a name or an alias, a timestamp, a datatype, flags, metadata, properties and one value
(an integer, a float, a boolean, a string, bytes, a DataSet or a Template). Fields this module
does not know (extensions) are skipped when decoding; a metric's value extension is kept as
raw bytes. A malformed payload raises ValueError naming the byte where decoding stopped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DataSet",
    "Metric",
    "Payload",
    "Template",
    "decode_payload",
    "encode_payload",
    "value_field",
]

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1


@dataclass
class DataSet:
    """A table: column names, their Sparkplug datatypes, rows of values."""

    columns: list[str] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    num_of_columns: int | None = None


@dataclass
class Template:
    """A user-defined type (a definition) or an instance of one, with member metrics."""

    version: str | None = None
    metrics: list[Metric] = field(default_factory=list)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    template_ref: str | None = None
    is_definition: bool | None = None


@dataclass
class Metric:
    """One metric. `kind` names the value field that was set (`int_value`, `long_value`,
    `float_value`, `double_value`, `boolean_value`, `string_value`, `bytes_value`,
    `dataset_value`, `template_value`, `extension_value`) or is None when none was."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: int | None = None
    is_historical: bool | None = None
    is_transient: bool | None = None
    is_null: bool | None = None
    metadata: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    kind: str | None = None
    value: Any = None


@dataclass
class Payload:
    """A Sparkplug B payload."""

    timestamp: int | None = None
    metrics: list[Metric] = field(default_factory=list)
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


def value_field(datatype: int | None) -> str | None:
    """The Metric value field a Sparkplug datatype is carried in (None: unknown type)."""
    if datatype is None:
        return None
    if datatype in (1, 2, 3, 5, 6, 7):  # Int8, Int16, Int32, UInt8, UInt16, UInt32
        return "int_value"
    if datatype in (4, 8, 13):  # Int64, UInt64, DateTime
        return "long_value"
    if datatype == 9:
        return "float_value"
    if datatype == 10:
        return "double_value"
    if datatype == 11:
        return "boolean_value"
    if datatype in (12, 14, 15):  # String, Text, UUID
        return "string_value"
    if datatype in (17, 18) or 22 <= datatype <= 34:  # Bytes, File, arrays
        return "bytes_value"
    if datatype == 16:
        return "dataset_value"
    if datatype == 19:
        return "template_value"
    return None


# -- decoding --------------------------------------------------------------------------------


class _Reader:
    """Walks the fields of one message: (number, wire type, value) with the value an int for
    varints and the raw bytes otherwise."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def varint(self) -> int:
        data, pos, end = self.data, self.pos, self.end
        result = shift = 0
        while True:
            if pos >= end:
                raise ValueError(f"truncated varint at byte {pos}")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return result & _U64
            shift += 7
            if shift > 63:
                raise ValueError(f"varint longer than 10 bytes at byte {pos}")

    def fields(self) -> Any:
        while self.pos < self.end:
            at = self.pos
            key = self.varint()
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ValueError(f"field number 0 at byte {at}")
            if wire == _VARINT:
                yield number, wire, self.varint()
                continue
            if wire == _LEN:
                size = self.varint()
                start = self.pos
                stop = start + size
            elif wire == _FIXED32:
                start, stop = self.pos, self.pos + 4
            elif wire == _FIXED64:
                start, stop = self.pos, self.pos + 8
            else:
                raise ValueError(f"unsupported wire type {wire} (field {number}) at byte {at}")
            if stop > self.end:
                raise ValueError(f"field {number} at byte {at} runs past the end of its message")
            self.pos = stop
            yield number, wire, self.data[start:stop]


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8") from None


def _expect(wire: int, want: int, what: str) -> None:
    if wire != want:
        raise ValueError(f"{what} has wire type {wire}, expected {want}")


def _scalar(number: int, wire: int, value: Any, table: dict[int, str]) -> tuple[str, Any] | None:
    """A oneof value field (DataSetValue, PropertyValue, Parameter): (kind, value) or None."""
    kind = table.get(number)
    if kind is None:
        return None
    if kind == "int_value":
        _expect(wire, _VARINT, kind)
        return kind, value & _U32
    if kind in ("long_value",):
        _expect(wire, _VARINT, kind)
        return kind, value
    if kind == "float_value":
        _expect(wire, _FIXED32, kind)
        return kind, _F32.unpack(value)[0]
    if kind == "double_value":
        _expect(wire, _FIXED64, kind)
        return kind, _F64.unpack(value)[0]
    if kind == "boolean_value":
        _expect(wire, _VARINT, kind)
        return kind, bool(value)
    if kind == "string_value":
        _expect(wire, _LEN, kind)
        return kind, _text(value, kind)
    return kind, value  # nested messages and extensions: the caller decodes


_DATASET_VALUE = {1: "int_value", 2: "long_value", 3: "float_value", 4: "double_value",
                  5: "boolean_value", 6: "string_value", 7: "extension_value"}  # fmt: skip
_PROPERTY_VALUE = {3: "int_value", 4: "long_value", 5: "float_value", 6: "double_value",
                   7: "boolean_value", 8: "string_value", 9: "propertyset_value",
                   10: "propertysets_value", 11: "extension_value"}  # fmt: skip
_PARAMETER_VALUE = {3: "int_value", 4: "long_value", 5: "float_value", 6: "double_value",
                    7: "boolean_value", 8: "string_value", 9: "extension_value"}  # fmt: skip
_METRIC_VALUE = {10: "int_value", 11: "long_value", 12: "float_value", 13: "double_value",
                 14: "boolean_value", 15: "string_value", 16: "bytes_value",
                 17: "dataset_value", 18: "template_value", 19: "extension_value"}  # fmt: skip


def _decode_metadata(raw: bytes) -> dict[str, Any]:
    names = {1: "is_multi_part", 2: "content_type", 3: "size", 4: "seq", 5: "file_name",
             6: "file_type", 7: "md5", 8: "description"}  # fmt: skip
    out: dict[str, Any] = {}
    for number, wire, value in _Reader(raw).fields():
        name = names.get(number)
        if name is None:
            continue
        if number == 1:
            out[name] = bool(value)
        elif number in (3, 4):
            out[name] = value
        else:
            _expect(wire, _LEN, f"metadata {name}")
            out[name] = _text(value, f"metadata {name}")
    return out


def _decode_property_value(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"type": None, "is_null": False, "value": None}
    for number, wire, value in _Reader(raw).fields():
        if number == 1:
            out["type"] = value
        elif number == 2:
            out["is_null"] = bool(value)
        else:
            found = _scalar(number, wire, value, _PROPERTY_VALUE)
            if found is None:
                continue
            kind, decoded = found
            if kind == "propertyset_value":
                decoded = _decode_property_set(decoded)
            elif kind == "propertysets_value":
                decoded = [
                    _decode_property_set(v) for n, _, v in _Reader(decoded).fields() if n == 1
                ]
            out["value"] = decoded
    return out


def _decode_property_set(raw: bytes) -> dict[str, Any]:
    """A PropertySet as {key: {"type", "is_null", "value"}}."""
    keys: list[str] = []
    values: list[dict[str, Any]] = []
    for number, wire, value in _Reader(raw).fields():
        if number == 1:
            _expect(wire, _LEN, "property key")
            keys.append(_text(value, "property key"))
        elif number == 2:
            values.append(_decode_property_value(value))
    if len(keys) != len(values):
        raise ValueError(f"property set has {len(keys)} keys but {len(values)} values")
    return dict(zip(keys, values))


def _packed_or_single(wire: int, value: Any) -> list[int]:
    if wire == _VARINT:
        return [value]
    reader = _Reader(value)
    out = []
    while reader.pos < reader.end:
        out.append(reader.varint())
    return out


def _decode_dataset(raw: bytes) -> DataSet:
    ds = DataSet()
    for number, wire, value in _Reader(raw).fields():
        if number == 1:
            ds.num_of_columns = value
        elif number == 2:
            ds.columns.append(_text(value, "dataset column"))
        elif number == 3:
            ds.types.extend(_packed_or_single(wire, value))
        elif number == 4:
            row: list[Any] = []
            for n, _, element in _Reader(value).fields():
                if n != 1:
                    continue
                cell: Any = None
                for en, ew, ev in _Reader(element).fields():
                    found = _scalar(en, ew, ev, _DATASET_VALUE)
                    if found is not None:
                        cell = found[1]
                row.append(cell)
            ds.rows.append(row)
    return ds


def _decode_template(raw: bytes) -> Template:
    tpl = Template()
    for number, _wire, value in _Reader(raw).fields():
        if number == 1:
            tpl.version = _text(value, "template version")
        elif number == 2:
            tpl.metrics.append(_decode_metric(value))
        elif number == 3:
            param: dict[str, Any] = {"name": None, "type": None, "value": None}
            for pn, pw, pv in _Reader(value).fields():
                if pn == 1:
                    param["name"] = _text(pv, "template parameter name")
                elif pn == 2:
                    param["type"] = pv
                else:
                    found = _scalar(pn, pw, pv, _PARAMETER_VALUE)
                    if found is not None:
                        param["value"] = found[1]
            tpl.parameters.append(param)
        elif number == 4:
            tpl.template_ref = _text(value, "template_ref")
        elif number == 5:
            tpl.is_definition = bool(value)
    return tpl


def _decode_metric(raw: bytes) -> Metric:
    m = Metric()
    for number, wire, value in _Reader(raw).fields():
        if number == 1:
            _expect(wire, _LEN, "metric name")
            m.name = _text(value, "metric name")
        elif number == 2:
            m.alias = value
        elif number == 3:
            m.timestamp = value
        elif number == 4:
            m.datatype = value & _U32
        elif number == 5:
            m.is_historical = bool(value)
        elif number == 6:
            m.is_transient = bool(value)
        elif number == 7:
            m.is_null = bool(value)
        elif number == 8:
            m.metadata = _decode_metadata(value)
        elif number == 9:
            m.properties = _decode_property_set(value)
        else:
            found = _scalar(number, wire, value, _METRIC_VALUE)
            if found is None:
                continue
            kind, decoded = found
            if kind == "bytes_value":
                _expect(wire, _LEN, kind)
                decoded = bytes(decoded)
            elif kind == "dataset_value":
                decoded = _decode_dataset(decoded)
            elif kind == "template_value":
                decoded = _decode_template(decoded)
            elif kind == "extension_value":
                decoded = bytes(decoded)
            m.kind, m.value = kind, decoded
    return m


def decode_payload(data: bytes) -> Payload:
    """A Sparkplug B payload from its protobuf bytes; ValueError when malformed."""
    payload = Payload()
    try:
        for number, wire, value in _Reader(bytes(data)).fields():
            if number == 1:
                _expect(wire, _VARINT, "payload timestamp")
                payload.timestamp = value
            elif number == 2:
                _expect(wire, _LEN, "metric")
                payload.metrics.append(_decode_metric(value))
            elif number == 3:
                _expect(wire, _VARINT, "payload seq")
                payload.seq = value
            elif number == 4:
                payload.uuid = _text(value, "payload uuid")
            elif number == 5:
                payload.body = bytes(value)
    except struct.error as exc:
        raise ValueError(f"malformed fixed-width value: {exc}") from None
    return payload


# -- encoding --------------------------------------------------------------------------------


def _put_varint(out: bytearray, value: int) -> None:
    value &= _U64
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_key(out: bytearray, number: int, wire: int) -> None:
    _put_varint(out, (number << 3) | wire)


def _put_uint(out: bytearray, number: int, value: int | None) -> None:
    if value is not None:
        _put_key(out, number, _VARINT)
        _put_varint(out, int(value))


def _put_bool(out: bytearray, number: int, value: bool | None) -> None:
    if value is not None:
        _put_key(out, number, _VARINT)
        out.append(1 if value else 0)


def _put_bytes(out: bytearray, number: int, value: bytes | str | None) -> None:
    if value is None:
        return
    raw = value.encode("utf-8") if isinstance(value, str) else value
    _put_key(out, number, _LEN)
    _put_varint(out, len(raw))
    out += raw


def _put_value(out: bytearray, number: int, kind: str, value: Any) -> None:
    """One oneof value field at field `number`."""
    if kind == "int_value":
        _put_uint(out, number, int(value) & _U32)
    elif kind == "long_value":
        _put_uint(out, number, int(value) & _U64)
    elif kind == "float_value":
        _put_key(out, number, _FIXED32)
        out += _F32.pack(value)
    elif kind == "double_value":
        _put_key(out, number, _FIXED64)
        out += _F64.pack(value)
    elif kind == "boolean_value":
        _put_bool(out, number, bool(value))
    elif kind in ("string_value", "bytes_value", "extension_value"):
        _put_bytes(out, number, value)
    else:
        raise ValueError(f"cannot encode a {kind}")


_DATASET_NUMBERS = {v: k for k, v in _DATASET_VALUE.items()}
_METRIC_NUMBERS = {v: k for k, v in _METRIC_VALUE.items()}
_PROPERTY_NUMBERS = {v: k for k, v in _PROPERTY_VALUE.items()}


def _encode_property_set(props: dict[str, Any]) -> bytes:
    """{key: {"type": int, "value": ..., "kind": str}} as a PropertySet."""
    out = bytearray()
    for key in props:
        _put_bytes(out, 1, key)
    for prop in props.values():
        pv = bytearray()
        _put_uint(pv, 1, prop.get("type"))
        if prop.get("value") is None:
            _put_bool(pv, 2, True)
        else:
            kind = prop.get("kind") or "string_value"
            _put_value(pv, _PROPERTY_NUMBERS[kind], kind, prop["value"])
        _put_bytes(out, 2, bytes(pv))
    return bytes(out)


def _encode_dataset(ds: DataSet) -> bytes:
    out = bytearray()
    _put_uint(out, 1, ds.num_of_columns if ds.num_of_columns is not None else len(ds.columns))
    for column in ds.columns:
        _put_bytes(out, 2, column)
    for t in ds.types:
        _put_uint(out, 3, t)
    for row in ds.rows:
        row_bytes = bytearray()
        for t, cell in zip(ds.types, row):
            element = bytearray()
            kind = value_field(t)
            if cell is not None and kind is not None:
                _put_value(element, _DATASET_NUMBERS[kind], kind, cell)
            _put_bytes(row_bytes, 1, bytes(element))
        _put_bytes(out, 4, bytes(row_bytes))
    return bytes(out)


def _encode_metric(m: Metric) -> bytes:
    out = bytearray()
    _put_bytes(out, 1, m.name)
    _put_uint(out, 2, m.alias)
    _put_uint(out, 3, m.timestamp)
    _put_uint(out, 4, m.datatype)
    _put_bool(out, 5, m.is_historical)
    _put_bool(out, 6, m.is_transient)
    _put_bool(out, 7, m.is_null)
    if m.properties:
        _put_bytes(out, 9, _encode_property_set(m.properties))
    if m.kind is not None and not m.is_null:
        if m.kind == "dataset_value":
            _put_bytes(out, 17, _encode_dataset(m.value))
        elif m.kind == "template_value":
            raise ValueError("encoding Template values is not supported")
        else:
            _put_value(out, _METRIC_NUMBERS[m.kind], m.kind, m.value)
    return bytes(out)


def encode_payload(payload: Payload) -> bytes:
    """The protobuf bytes of a Sparkplug B payload."""
    out = bytearray()
    _put_uint(out, 1, payload.timestamp)
    for metric in payload.metrics:
        _put_bytes(out, 2, _encode_metric(metric))
    _put_uint(out, 3, payload.seq)
    _put_bytes(out, 4, payload.uuid)
    _put_bytes(out, 5, payload.body)
    return bytes(out)
