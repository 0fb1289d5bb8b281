"""Benthos' common schema (what CDC inputs put in `schema` metadata) as Avro or JSON Schema.

A common schema is a JSON object: `type` (OBJECT, STRING, INT64, TIMESTAMP, DECIMAL ...),
`name`, `optional`, `children` (the fields of an OBJECT, the item of an ARRAY or MAP, the
branches of a UNION), and the parameters of some types: `precision` and `scale` of a DECIMAL,
`unit` and `adjust_to_utc` of a TIMESTAMP or TIME_OF_DAY. `fingerprint` identifies it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = [
    "CommonSchemaError",
    "common_to_avro",
    "common_to_json_schema",
    "parse_common_schema",
    "schema_key",
]

_TYPES = frozenset(
    {
        "BOOLEAN", "INT32", "INT64", "FLOAT32", "FLOAT64", "STRING", "BYTE_ARRAY", "OBJECT",
        "MAP", "ARRAY", "NULL", "UNION", "TIMESTAMP", "ANY", "DECIMAL", "BIG_DECIMAL", "DATE",
        "TIME_OF_DAY", "UUID",
    }
)  # fmt: skip
_CONTAINERS = frozenset({"OBJECT", "MAP", "ARRAY", "UNION"})
_UNITS = ("SECONDS", "MILLIS", "MICROS", "NANOS")
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PRIMITIVE_AVRO = {
    "NULL": "null",
    "BOOLEAN": "boolean",
    "INT32": "int",
    "INT64": "long",
    "FLOAT32": "float",
    "FLOAT64": "double",
    "STRING": "string",
    "BYTE_ARRAY": "bytes",
    "ANY": "bytes",
}


class CommonSchemaError(ValueError):
    """A common schema that is malformed, or that the target format cannot express."""


@dataclass(frozen=True)
class CommonSchema:
    """One node of a common schema."""

    type: str
    name: str = ""
    optional: bool = False
    children: tuple[CommonSchema, ...] = ()
    precision: int | None = None
    scale: int | None = None
    unit: str | None = None
    adjust_to_utc: bool = True


def schema_key(value: Any) -> str:
    """What identifies a schema value for caching: its fingerprint, else a hash of its JSON."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return "text:" + hashlib.sha256(value.encode()).hexdigest()
    if isinstance(value, dict) and isinstance(value.get("fingerprint"), str):
        return "fp:" + value["fingerprint"]
    text = json.dumps(value, sort_keys=True, default=str)
    return "json:" + hashlib.sha256(text.encode()).hexdigest()


def parse_common_schema(value: Any) -> CommonSchema:
    """A common schema from metadata: an object, or its JSON text (bytes too)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise CommonSchemaError(f"not a schema: the text is not JSON ({exc})") from None
    return _parse(value, "")


def _parse(value: Any, parent: str, index: int | None = None) -> CommonSchema:
    """One node; `parent` is the path of the node holding it, `index` its place there when
    that node is not an OBJECT (whose children are named)."""
    if not isinstance(value, dict):
        where = f"{parent}[{index}]: " if index is not None else f"{parent}: " if parent else ""
        raise CommonSchemaError(f"{where}expected a schema object, got {type(value).__name__}")
    name = value.get("name", "")
    if not isinstance(name, str):
        raise CommonSchemaError(f"{parent + ': ' if parent else ''}name must be a string")
    if index is not None:
        path = f"{parent}[{index}]"
    else:
        path = f"{parent}.{name}" if parent and name else name or parent
    where = f"{path}: " if path else ""
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _TYPES:
        raise CommonSchemaError(
            f"{where}type {kind!r} is not a common schema type ({', '.join(sorted(_TYPES))})"
        )
    optional = value.get("optional", False)
    if not isinstance(optional, bool):
        raise CommonSchemaError(f"{where}optional must be true or false")
    raw_children = value.get("children") or []
    if not isinstance(raw_children, list):
        raise CommonSchemaError(f"{where}children must be an array")
    if raw_children and kind not in _CONTAINERS:
        raise CommonSchemaError(f"{where}{kind} is a leaf and cannot have children")
    children = tuple(
        _parse(c, path, None if kind == "OBJECT" else i) for i, c in enumerate(raw_children)
    )
    node = CommonSchema(kind, name, optional, children)
    if kind == "DECIMAL":
        raw_precision, raw_scale = value.get("precision"), value.get("scale")
        if not _whole(raw_precision) or not _whole(raw_scale):
            raise CommonSchemaError(f"{where}DECIMAL needs integer precision and scale")
        precision, scale = int(raw_precision), int(raw_scale)
        if not 1 <= precision <= 38 or not 0 <= scale <= precision:
            raise CommonSchemaError(
                f"{where}DECIMAL({precision}, {scale}): precision must be 1..38 and scale "
                "0..precision"
            )
        node = CommonSchema(kind, name, optional, children, precision, scale)
    elif "precision" in value or "scale" in value:
        raise CommonSchemaError(f"{where}precision and scale only belong to DECIMAL")
    if kind in ("TIMESTAMP", "TIME_OF_DAY"):
        unit = value.get("unit")
        if unit is None and kind == "TIME_OF_DAY":
            raise CommonSchemaError(f"{where}TIME_OF_DAY needs a unit ({', '.join(_UNITS)})")
        if unit is not None and unit not in _UNITS:
            raise CommonSchemaError(f"{where}unit {unit!r} is not one of {', '.join(_UNITS)}")
        adjust = value.get("adjust_to_utc", True)
        if not isinstance(adjust, bool):
            raise CommonSchemaError(f"{where}adjust_to_utc must be true or false")
        node = CommonSchema(kind, name, optional, children, unit=unit, adjust_to_utc=adjust)
    elif "unit" in value or "adjust_to_utc" in value:
        raise CommonSchemaError(
            f"{where}unit and adjust_to_utc only belong to TIMESTAMP and TIME_OF_DAY"
        )
    if kind in ("ARRAY", "MAP") and len(children) != 1:
        raise CommonSchemaError(f"{where}{kind} needs exactly one child (its items)")
    return node


def _whole(v: Any) -> TypeGuard[int | float]:
    return (type(v) is int) or (type(v) is float and v.is_integer())


# -- Avro -------------------------------------------------------------------------------------


def common_to_avro(
    schema: CommonSchema, record_name: str, namespace: str = ""
) -> dict[str, Any] | list[Any] | str:
    """The Avro schema of a common schema. The root record is named by the schema's own name,
    else `record_name`; `namespace` goes on the root record only. Nested records are named after
    their field, made unique by their parents' names when a name repeats."""
    used: set[str] = set()
    root = _avro(schema, record_name, used, "")
    if namespace and isinstance(root, dict) and root.get("type") == "record":
        root["namespace"] = namespace
    elif namespace and isinstance(root, list):
        for branch in root:
            if isinstance(branch, dict) and branch.get("type") == "record":
                branch["namespace"] = namespace
                break
    return root


def _avro(node: CommonSchema, fallback: str, used: set[str], path: str) -> Any:
    inner = _avro_inner(node, fallback, used, path)
    if not node.optional or inner == "null":
        return inner
    if isinstance(inner, list):  # a union cannot hold a union: null joins its branches
        return inner if "null" in inner else ["null", *inner]
    return ["null", inner]


def _avro_inner(node: CommonSchema, fallback: str, used: set[str], path: str) -> Any:
    where = path or "(root)"
    kind = node.type
    if kind in _PRIMITIVE_AVRO:
        return _PRIMITIVE_AVRO[kind]
    if kind == "UUID":
        return {"type": "string", "logicalType": "uuid"}
    if kind == "DATE":
        return {"type": "int", "logicalType": "date"}
    if kind == "DECIMAL":
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": node.precision,
            "scale": node.scale,
        }
    if kind == "BIG_DECIMAL":
        raise CommonSchemaError(
            f"{where}: BIG_DECIMAL has no fixed precision and scale, which Avro needs; cast it "
            "to a DECIMAL or a STRING before schema_registry_encode"
        )
    if kind == "TIMESTAMP":
        unit = node.unit or "MILLIS"
        local = "" if node.adjust_to_utc else "local-"
        precision = {"SECONDS": "millis", "MILLIS": "millis", "MICROS": "micros",
                     "NANOS": "nanos"}[unit]  # fmt: skip
        return {"type": "long", "logicalType": f"{local}timestamp-{precision}"}
    if kind == "TIME_OF_DAY":
        if node.unit in ("SECONDS", "MILLIS"):
            return {"type": "int", "logicalType": "time-millis"}
        if node.unit == "MICROS":
            return {"type": "long", "logicalType": "time-micros"}
        raise CommonSchemaError(f"{where}: Avro has no time of day in nanoseconds")
    if kind == "ARRAY":
        return {
            "type": "array",
            "items": _avro(node.children[0], _item_name(fallback), used, path + "[]"),
        }
    if kind == "MAP":
        return {
            "type": "map",
            "values": _avro(node.children[0], _item_name(fallback), used, path + "{}"),
        }
    if kind == "UNION":
        branches = [
            _avro(c, f"{fallback}_{i}", used, f"{path}|{i}") for i, c in enumerate(node.children)
        ]
        if not branches:
            raise CommonSchemaError(f"{where}: a UNION needs at least one branch")
        return branches
    return _avro_record(node, fallback, used, path)


def _avro_record(node: CommonSchema, fallback: str, used: set[str], path: str) -> dict[str, Any]:
    name = node.name or fallback
    if not _AVRO_NAME.match(name):
        raise CommonSchemaError(
            f"{path or '(root)'}: {name!r} is not a valid Avro record name "
            "(letters, digits and _, not starting with a digit)"
        )
    unique = name
    if unique in used:
        unique = re.sub(r"[^A-Za-z0-9_]+", "_", path).strip("_") or name
    count = 1
    while unique in used:
        count += 1
        unique = f"{name}_{count}"
    used.add(unique)
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for child in node.children:
        if not child.name:
            raise CommonSchemaError(f"{path or '(root)'}: a field of {name} has no name")
        if not _AVRO_NAME.match(child.name):
            raise CommonSchemaError(
                f"{_join(path, child.name)}: {child.name!r} is not a valid Avro field name"
            )
        if child.name in seen:
            raise CommonSchemaError(f"{_join(path, child.name)}: the field appears twice")
        seen.add(child.name)
        field: dict[str, Any] = {
            "name": child.name,
            "type": _avro(child, child.name, used, _join(path, child.name)),
        }
        if child.optional:
            field["default"] = None
        fields.append(field)
    return {"type": "record", "name": unique, "fields": fields}


def _item_name(name: str) -> str:
    return f"{name}_item" if name else "item"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- JSON Schema ------------------------------------------------------------------------------


def common_to_json_schema(schema: CommonSchema) -> dict[str, Any]:
    """The JSON Schema (draft-07) a document of the common schema conforms to."""
    return {"$schema": "http://json-schema.org/draft-07/schema#", **_json(schema, "")}


def _json(node: CommonSchema, path: str) -> dict[str, Any]:
    inner = _json_inner(node, path)
    if node.optional and inner.get("type") != "null" and inner:
        return {"oneOf": [{"type": "null"}, inner]}
    return inner


def _json_inner(node: CommonSchema, path: str) -> dict[str, Any]:
    kind = node.type
    if kind == "OBJECT":
        props = {c.name: _json(c, _join(path, c.name)) for c in node.children}
        required = [c.name for c in node.children if not c.optional]
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        return out
    if kind in ("INT32", "INT64"):
        return {"type": "integer"}
    if kind in ("FLOAT32", "FLOAT64"):
        return {"type": "number"}
    if kind == "BOOLEAN":
        return {"type": "boolean"}
    if kind == "STRING":
        return {"type": "string"}
    if kind == "UUID":
        return {"type": "string", "format": "uuid"}
    if kind == "BYTE_ARRAY":
        return {"type": "string", "contentEncoding": "base64"}
    if kind == "NULL":
        return {"type": "null"}
    if kind == "ANY":
        return {}
    if kind == "TIMESTAMP":
        return {"type": "string", "format": "date-time"}
    if kind == "DATE":
        return {"type": "string", "format": "date"}
    if kind == "TIME_OF_DAY":
        return {"type": "string", "format": "time"}
    if kind == "DECIMAL":
        return {"type": "string", "pattern": _decimal_pattern(node.precision or 1, node.scale or 0)}
    if kind == "BIG_DECIMAL":
        return {"type": "string", "pattern": r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"}
    if kind == "ARRAY":
        return {"type": "array", "items": _json(node.children[0], path + "[]")}
    if kind == "MAP":
        return {"type": "object", "additionalProperties": _json(node.children[0], path + "{}")}
    # UNION
    return {"oneOf": [_json(c, f"{path}|{i}") for i, c in enumerate(node.children)]}


def _decimal_pattern(precision: int, scale: int) -> str:
    """Decimal text of at most `precision` digits, `scale` of them after the point."""
    whole = precision - scale
    integer = "0" if whole == 0 else f"(0|[1-9][0-9]{{0,{whole - 1}}})"
    if scale == 0:
        return f"^-?{integer}$"
    return f"^-?{integer}\\.[0-9]{{{scale}}}$"
