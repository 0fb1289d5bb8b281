"""The JSON Schema of the `validate` processor: loaded once, compiled once, checked per message.

The schema comes inline (an object, or JSON/YAML text), from a file, or from a schema
registry subject of type JSON. It is checked with `jsonschema` (Draft 2020-12 unless the
schema's `$schema` names another draft) with format checking. For the keywords envelope
schemas mostly use, a plan compiled from the schema answers "valid" without jsonschema's
generic machinery; anything it is not sure about (and every invalid document) goes to
jsonschema, which alone words the errors. jsonschema is imported by the first schema parsed,
not to register the processor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from streamforge.plugin.errors import MissingFileError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["MAX_REASONS", "SchemaCheck", "load_schema_file", "parse_schema"]

#: schema errors named per message; one more line says when there are others
MAX_REASONS = 3

#: keywords that only annotate: they never make a document invalid
_ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "title", "description", "examples", "default",
        "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
    }
)  # fmt: skip

Plan = Callable[[Any], bool]


def parse_schema(value: Any) -> dict[str, Any] | bool:
    """A schema from an object or JSON/YAML text, checked against its metaschema.

    Raises ValueError naming the problem (and where in the schema it is).
    """
    from jsonschema import Draft202012Validator, SchemaError
    from jsonschema.validators import validator_for

    schema = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("the schema is empty")
        try:
            schema = json.loads(text)
        except ValueError:
            try:
                schema = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"not JSON or YAML: {exc}") from None
    if not isinstance(schema, (dict, bool)):
        raise ValueError(f"a JSON Schema is an object or a boolean, got {type(schema).__name__}")
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = exc.json_path if exc.path else "$"
        raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None
    return schema


def load_schema_file(path: Path) -> dict[str, Any] | bool:
    """A schema file (JSON or YAML); ValueError naming the file when it cannot be used."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        error = MissingFileError if isinstance(exc, FileNotFoundError) else ValueError
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return parse_schema(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


class SchemaCheck:
    """One compiled schema: `errors(document)` lists what is wrong, `[]` when it is valid."""

    def __init__(self, schema: dict[str, Any] | bool) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.validators import validator_for

        cls = validator_for(schema, default=Draft202012Validator)
        self.validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.plan = _compile(schema, self.validator)

    def errors(self, document: Any) -> list[str]:
        """`$.path: message` for the first few violations; `[]` for a valid document."""
        plan = self.plan
        if plan is not None and plan(document):
            return []
        found = list(islice(self.validator.iter_errors(document), MAX_REASONS + 1))
        reasons = [f"schema: {e.json_path}: {e.message}" for e in found[:MAX_REASONS]]
        if len(found) > MAX_REASONS:
            reasons.append("schema: more errors not shown")
        return reasons


# -- the fast plan -------------------------------------------------------------------------------
#
# The plan is one Python expression built from the schema and compiled once, so a valid document
# costs a few comparisons rather than jsonschema's walk over validator functions.

_NUMBER = "type({v}) in _NUM"
_TYPES: dict[str, str] = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "number": _NUMBER,
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
}


class _Source:
    """Constants the generated expression refers to, and fresh variable names."""

    def __init__(self, validator: Validator) -> None:
        self.names: dict[str, Any] = {"_NUM": (int, float)}
        self.checker = getattr(validator, "format_checker", None)
        self._n = 0

    def const(self, value: Any) -> str:
        self._n += 1
        name = f"_c{self._n}"
        self.names[name] = value
        return name

    def var(self) -> str:
        self._n += 1
        return f"_x{self._n}"


def _compile(schema: Any, validator: Validator) -> Plan | None:
    """A check that is True only for documents jsonschema accepts; None when unsupported."""
    src = _Source(validator)
    expr = _expr(schema, "v", src)
    if expr is None:
        return None
    plan: Plan = eval(f"lambda v: {expr}", src.names)
    return plan


def _expr(schema: Any, v: str, src: _Source) -> str | None:
    if schema is True or schema == {}:
        return "True"
    if not isinstance(schema, dict):
        return None
    parts: list[str] = []
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        part = _keyword(keyword, arg, schema, v, src)
        if part is None:
            return None
        parts.append(f"({part})")
    return " and ".join(parts) if parts else "True"


def _keyword(keyword: str, arg: Any, schema: dict[str, Any], v: str, src: _Source) -> str | None:
    if keyword == "type":
        names = [arg] if isinstance(arg, str) else arg
        if not isinstance(names, list) or any(n not in _TYPES for n in names):
            return None
        return " or ".join(_TYPES[n].format(v=v) for n in names)
    if keyword == "required":
        if not arg:
            return "True"
        keys = " and ".join(f"{str(k)!r} in {v}" for k in arg)
        return f"type({v}) is not dict or ({keys})"
    if keyword == "properties":
        subs = []
        for name, sub in arg.items():
            expr = _expr(sub, f"{v}[{str(name)!r}]", src)
            if expr is None:
                return None
            if expr != "True":
                subs.append(f"({str(name)!r} not in {v} or ({expr}))")
        return f"type({v}) is not dict or ({' and '.join(subs)})" if subs else "True"
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            return None
        known = src.const(frozenset(schema.get("properties") or {}))
        if arg is False:
            return f"type({v}) is not dict or {known}.issuperset({v})"
        key, item = src.var(), src.var()
        extra = _expr(arg, item, src)
        if extra is None:
            return None
        return (
            f"type({v}) is not dict or "
            f"all({key} in {known} or ({extra}) for {key}, {item} in {v}.items())"
        )
    if keyword == "items":
        if "prefixItems" in schema:
            return None
        item = src.var()
        each = _expr(arg, item, src)
        if each is None:
            return None
        return f"type({v}) is not list or all(({each}) for {item} in {v})"
    if keyword in ("enum", "const"):
        allowed = arg if keyword == "enum" else [arg]
        strings = src.const(frozenset(a for a in allowed if isinstance(a, str)))
        return f"type({v}) is str and {v} in {strings}"  # anything else: jsonschema decides
    if keyword in _BOUNDS:
        if not (type(arg) is int or type(arg) is float):
            return None
        return f"type({v}) not in _NUM or {v} {_BOUNDS[keyword]} {src.const(arg)}"
    if keyword in ("minLength", "maxLength"):
        op = ">=" if keyword == "minLength" else "<="
        return f"type({v}) is not str or len({v}) {op} {int(arg)}"
    if keyword == "format":
        if src.checker is None:
            return "True"
        checker = src.const(src.checker)
        return f"{checker}.conforms({v}, {str(arg)!r})"
    return None


#: numeric bounds: NaN fails every comparison, so jsonschema decides about it
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
