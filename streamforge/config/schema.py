"""JSON Schema (draft 2020-12) of stream configs, generated from the component specs."""

from __future__ import annotations

from typing import Any

from streamforge.config.sections import sections
from streamforge.config.validate import IGNORED_TOP_LEVEL, STREAM_FIELDS
from streamforge.plugin import KINDS, Field, Kind, registry

__all__ = ["component_schema", "field_schema", "stream_schema"]

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "mapping": {"type": "string", "format": "bloblang-mapping"},
    "query": {"type": "string", "format": "bloblang-query"},
    "duration": {"type": ["string", "number"], "format": "duration"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "any": {},
}
_LABEL = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]*$"}


def field_schema(f: Field) -> dict[str, Any]:
    """The schema of one field (component fields refer to `#/$defs/<kind>`)."""
    schema: dict[str, Any]
    if f.type in KINDS:
        schema = {"$ref": f"#/$defs/{f.type}"}
    elif f.type == "object":
        schema = {
            "type": "object",
            "properties": {c.name: field_schema(c) for c in f.fields},
            "additionalProperties": False,
        }
        required = [c.name for c in f.fields if c.required]
        if required:
            schema["required"] = required
    elif f.type == "array":
        schema = {"type": "array"}
        if f.item is not None:
            schema["items"] = field_schema(f.item)
    elif f.type == "map":
        schema = {"type": "object"}
        if f.item is not None:
            schema["additionalProperties"] = field_schema(f.item)
    else:
        schema = dict(_SCALARS[f.type])
        if f.references:
            schema["format"] = f"{f.references}-label"
    if f.options:
        schema["enum"] = list(f.options)
    if f.description:
        schema["description"] = f.description
    if not f.required and f.type not in KINDS:
        schema["default"] = f.default
    if f.examples:
        schema["examples"] = list(f.examples)
    if f.secret:
        # sent in configs but never returned: APIs show a placeholder in its place
        schema["writeOnly"] = True
    return schema


def component_schema(kind: Kind) -> dict[str, Any]:
    """One component of `kind`: exactly one type key, plus `label` (and `processors`).

    Caches and rate limits are only declared as resources, so they have no `resource:`
    reference form.
    """
    props: dict[str, Any] = {"label": _LABEL}
    names = []
    if kind not in ("cache", "rate_limit"):
        props["resource"] = {"type": "string"}
        names.append("resource")
    for spec in registry.specs(kind):
        props[spec.name] = field_schema(spec.config)
        if spec.summary:
            props[spec.name].setdefault("description", spec.summary)
        names.append(spec.name)
    if kind in ("input", "output"):
        props["processors"] = {"type": "array", "items": {"$ref": "#/$defs/processor"}}
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "oneOf": [{"required": [n]} for n in names],
    }


def stream_schema() -> dict[str, Any]:
    """The schema of a whole stream file, with every registered component."""
    owned = tuple(s.field for s in sections().values())
    root = field_schema(Field("stream", "object", fields=STREAM_FIELDS.fields + owned))
    root["required"] = []
    for key in sorted(IGNORED_TOP_LEVEL):
        root["properties"][key] = {}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "StreamForge stream",
        **root,
        "$defs": {k: component_schema(k) for k in KINDS},
    }
