"""Sparkplug B datatypes: their names, and metric values as JSON values and back.

Signed integers travel as two's complement in the unsigned `int_value` (Int8/16/32) and
`long_value` (Int64) fields and are read back by the width of their type; a Float keeps the
shortest decimal that is the same 32-bit float (1.1, not 1.100000023841858); a DateTime is
milliseconds since the epoch; Bytes and File are base64 text; arrays (Int8Array ...
DateTimeArray) are lists, packed little-endian in `bytes_value` as the specification says.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import struct
from typing import Any

from streamforge.connectors.sparkplug_proto import DataSet, Metric, Template, value_field

__all__ = [
    "CONFIG_TYPES",
    "DATATYPES",
    "datatype_code",
    "datatype_name",
    "decode_value",
    "encode_value",
    "float32",
    "infer_datatype",
]

#: Sparkplug datatype code -> name, as the specification names them
DATATYPES: dict[int, str] = {
    0: "Unknown", 1: "Int8", 2: "Int16", 3: "Int32", 4: "Int64", 5: "UInt8", 6: "UInt16",
    7: "UInt32", 8: "UInt64", 9: "Float", 10: "Double", 11: "Boolean", 12: "String",
    13: "DateTime", 14: "Text", 15: "UUID", 16: "DataSet", 17: "Bytes", 18: "File",
    19: "Template", 20: "PropertySet", 21: "PropertySetList", 22: "Int8Array",
    23: "Int16Array", 24: "Int32Array", 25: "Int64Array", 26: "UInt8Array", 27: "UInt16Array",
    28: "UInt32Array", 29: "UInt64Array", 30: "FloatArray", 31: "DoubleArray",
    32: "BooleanArray", 33: "StringArray", 34: "DateTimeArray",
}  # fmt: skip
_BY_NAME = {name.lower(): code for code, name in DATATYPES.items()}

#: the types a `metrics[].type` of the output may name (benthos-umh's, and a few more)
CONFIG_TYPES: tuple[str, ...] = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float",
    "double", "boolean", "string", "datetime", "text", "uuid", "bytes",
)  # fmt: skip

#: integer type -> (bits, signed)
_INTS = {1: (8, True), 2: (16, True), 3: (32, True), 4: (64, True), 5: (8, False),
         6: (16, False), 7: (32, False), 8: (64, False), 13: (64, True)}  # fmt: skip
#: array type -> (struct code of one element, element datatype)
_ARRAYS = {22: ("b", 1), 23: ("h", 2), 24: ("i", 3), 25: ("q", 4), 26: ("B", 5),
           27: ("H", 6), 28: ("I", 7), 29: ("Q", 8), 30: ("f", 9), 31: ("d", 10),
           34: ("q", 13)}  # fmt: skip
_F32 = struct.Struct("<f")


def datatype_name(code: int | None) -> str:
    """`Int32`, `Double` ... for a datatype code; `Unknown` for what the spec does not name."""
    return DATATYPES.get(code or 0, "Unknown")


def datatype_code(name: str) -> int:
    """The code of a datatype name in any case (`int32`, `Int32`, `boolean`); ValueError."""
    code = _BY_NAME.get(name.strip().lower())
    if code is None:
        raise ValueError(f"unknown Sparkplug datatype {name!r}")
    return code


def float32(value: float) -> float:
    """The shortest decimal that is the same 32-bit float as `value`."""
    if not math.isfinite(value):
        return value
    exact = _F32.unpack(_F32.pack(value))[0]
    for digits in range(6, 10):
        short = float(f"{exact:.{digits}g}")
        if _F32.unpack(_F32.pack(short))[0] == exact:
            return short
    return exact  # type: ignore[no-any-return]


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _integer(value: int, datatype: int | None) -> int:
    width = _INTS.get(datatype or 0)
    if width is None:
        return value
    bits, signed = width
    return _signed(value, bits) if signed else value & ((1 << bits) - 1)


def _array(raw: bytes, datatype: int) -> list[Any]:
    if datatype == 32:  # BooleanArray: a uint32 count, then the bits, most significant first
        if len(raw) < 4:
            raise ValueError("BooleanArray shorter than its 4-byte count")
        count = struct.unpack_from("<I", raw)[0]
        bits = raw[4:]
        if len(bits) * 8 < count:
            raise ValueError(f"BooleanArray of {count} values has {len(bits)} bytes")
        return [bool(bits[i // 8] & (0x80 >> (i % 8))) for i in range(count)]
    if datatype == 33:  # StringArray: null-terminated UTF-8 strings
        parts = raw.split(b"\x00")
        if parts and parts[-1] == b"":
            parts.pop()
        return [p.decode("utf-8", errors="replace") for p in parts]
    code, element = _ARRAYS[datatype]
    size = struct.calcsize(code)
    if len(raw) % size:
        raise ValueError(f"{datatype_name(datatype)} of {len(raw)} bytes is not whole elements")
    values = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    return [float32(v) for v in values] if element == 9 else values


def _dataset(ds: DataSet) -> dict[str, Any]:
    rows = []
    for row in ds.rows:
        cells: list[Any] = []
        for i, cell in enumerate(row):
            t = ds.types[i] if i < len(ds.types) else None
            if isinstance(cell, bool) or cell is None:
                cells.append(cell)
            elif isinstance(cell, int):
                cells.append(_integer(cell, t))
            elif isinstance(cell, float) and t == 9:
                cells.append(float32(cell))
            elif isinstance(cell, bytes):
                cells.append(base64.b64encode(cell).decode("ascii"))
            else:
                cells.append(cell)
        rows.append(cells)
    return {
        "columns": list(ds.columns),
        "types": [datatype_name(t) for t in ds.types],
        "rows": rows,
    }


def _template(tpl: Template) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tpl.template_ref is not None:
        out["template_ref"] = tpl.template_ref
    if tpl.version is not None:
        out["version"] = tpl.version
    out["is_definition"] = bool(tpl.is_definition)
    out["metrics"] = [
        {"name": m.name, "datatype": datatype_name(m.datatype), "value": decode_value(m)}
        for m in tpl.metrics
    ]
    if tpl.parameters:
        out["parameters"] = [
            {
                "name": p.get("name"),
                "type": datatype_name(p.get("type")),
                "value": _integer(p["value"], p.get("type"))
                if isinstance(p.get("value"), int) and not isinstance(p.get("value"), bool)
                else p.get("value"),
            }
            for p in tpl.parameters
        ]
    return out


def decode_value(metric: Metric, datatype: int | None = None) -> Any:
    """A metric's value as JSON would hold it, read by `datatype` (the metric's own when it
    carries one, else the type its BIRTH declared); None for a null metric."""
    if metric.is_null or metric.kind is None:
        return None
    t = metric.datatype if metric.datatype else datatype
    kind, value = metric.kind, metric.value
    if kind in ("int_value", "long_value"):
        return _integer(value, t)
    if kind == "float_value":
        return float32(value)
    if kind == "bytes_value":
        if t is not None and (22 <= t <= 34):
            return _array(value, t)
        return base64.b64encode(value).decode("ascii")
    if kind == "dataset_value":
        return _dataset(value)
    if kind == "template_value":
        return _template(value)
    if kind == "extension_value":
        return base64.b64encode(value).decode("ascii")
    return value


# -- encoding --------------------------------------------------------------------------------


def infer_datatype(value: Any) -> int:
    """The datatype a value gets when nothing declares one: Boolean, Int64, Double, String
    (objects and lists as their JSON text)."""
    if isinstance(value, bool):
        return 11
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 12


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"{value!r} is not a whole number for {name}")
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            try:
                return _as_int(float(value), name)
            except ValueError:
                pass
    raise ValueError(f"{value!r} is not a number for {name}")


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a number for {name}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not a boolean")


def _as_millis(value: Any) -> int:
    """A DateTime: milliseconds since the epoch, an RFC 3339 text or a datetime."""
    if isinstance(value, _dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return int(stamp.timestamp() * 1000)
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            return _as_millis(_dt.datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{value!r} is neither epoch milliseconds nor RFC 3339") from None
    return _as_int(value, "DateTime")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


def _pack_array(value: Any, datatype: int) -> bytes:
    if not isinstance(value, list):
        raise ValueError(f"{datatype_name(datatype)} needs a list, got {value!r}")
    if datatype == 32:
        flags = [_as_bool(v) for v in value]
        bits = bytearray((len(flags) + 7) // 8)
        for i, flag in enumerate(flags):
            if flag:
                bits[i // 8] |= 0x80 >> (i % 8)
        return struct.pack("<I", len(flags)) + bytes(bits)
    if datatype == 33:
        return b"".join(_text(v).encode("utf-8") + b"\x00" for v in value)
    code, element = _ARRAYS[datatype]
    name = datatype_name(datatype)
    if element in (9, 10):
        items: list[Any] = [_as_float(v, name) for v in value]
    elif element == 13:
        items = [_as_millis(v) for v in value]
    else:
        items = [_in_range(_as_int(v, name), element) for v in value]
    return struct.pack(f"<{len(items)}{code}", *items)


def _in_range(value: int, datatype: int) -> int:
    bits, signed = _INTS[datatype]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise ValueError(f"{value} does not fit {datatype_name(datatype)} ({low}..{high})")
    return value


def encode_value(value: Any, datatype: int) -> tuple[str, Any]:
    """(value field, raw value) of a JSON value as a metric of `datatype`; ValueError naming
    the value and the type when it does not fit."""
    kind = value_field(datatype)
    name = datatype_name(datatype)
    if kind is None or kind in ("dataset_value", "template_value"):
        raise ValueError(f"writing {name} metrics is not supported")
    if kind == "int_value":
        return kind, _in_range(_as_int(value, name), datatype)
    if kind == "long_value":
        number = _as_millis(value) if datatype == 13 else _as_int(value, name)
        return kind, _in_range(number, datatype)
    if kind == "float_value":
        real = _as_float(value, name)
        if math.isfinite(real) and abs(real) > 3.4028234663852886e38:
            raise ValueError(f"{value!r} does not fit Float")
        return kind, real
    if kind == "double_value":
        return kind, _as_float(value, name)
    if kind == "boolean_value":
        return kind, _as_bool(value)
    if kind == "string_value":
        return kind, _text(value)
    if 22 <= datatype <= 34:
        return kind, _pack_array(value, datatype)
    if isinstance(value, (bytes, bytearray)):
        return kind, bytes(value)
    if isinstance(value, str):
        try:
            return kind, base64.b64decode(value, validate=True)
        except ValueError:
            return kind, value.encode("utf-8")
    raise ValueError(f"{value!r} is not base64 text for {name}")
