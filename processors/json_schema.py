"""`json_schema` processor: checks each JSON message against a JSON Schema.

A message that does not conform keeps its content and is flagged with what is wrong and
where (`catch`, `switch` on `errored()` or a `fallback` output handle it). The schema is read
and compiled once, when the processor is built; a schema file's relative `$ref`s resolve
against the file.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft7Validator, SchemaError
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7, specification_with

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import MissingFileError

__all__ = ["JsonSchemaProcessor", "compile_schema", "error_path"]

#: violations named in one message's error; a last item says how many more there were
MAX_ERRORS = 5


def error_path(error: ValidationError) -> str:
    """Where in the document a violation is, as gojsonschema names it: `(root)` or `a.b.0`."""
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(root)"


def _read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        error = MissingFileError if isinstance(exc, FileNotFoundError) else ValueError
        raise error(f"cannot read schema file {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"schema file {str(path)!r} is not JSON: {exc}") from None


def _file_retriever(specification: Any) -> Any:
    """Loads (once each) the schema files a schema refers to by file:// URIs."""
    loaded: dict[str, Resource[Any]] = {}

    def retrieve(uri: str) -> Resource[Any]:
        resource = loaded.get(uri)
        if resource is not None:
            return resource
        if not uri.startswith("file://"):
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
        try:
            contents = _read_json_file(Path(uri[len("file://") :]))
        except ValueError as exc:
            raise NoSuchResource(ref=uri) from exc  # type: ignore[call-arg]
        resource = loaded[uri] = Resource.from_contents(
            contents, default_specification=specification
        )
        return resource

    return retrieve


def _refs(node: Any) -> list[str]:
    """Every `$ref` value in a schema document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _preload(document: Any, base: str, retrieve: Any, seen: set[str]) -> None:
    """Read the schema files `document` refers to (and theirs) now, so a missing one is a
    config error and no message waits for a file."""
    for ref in _refs(document):
        uri = urljoin(base, ref).partition("#")[0]
        if not uri.startswith("file://") or uri in seen:
            continue
        seen.add(uri)
        try:
            resource = retrieve(uri)
        except NoSuchResource as exc:
            cause = exc.__cause__ or exc
            raise ValueError(f"$ref {ref!r}: {cause}") from None
        _preload(resource.contents, uri, retrieve, seen)


def compile_schema(schema: str = "", schema_path: str = "") -> Draft7Validator:
    """A validator for the inline `schema` text or the file at `schema_path` (`file://` or a
    plain path); ValueError naming the problem when neither or both are given, or the schema is
    not one. Drafts follow `$schema`, draft-07 when it names none (as Benthos)."""
    if bool(schema.strip()) == bool(schema_path.strip()):
        raise ValueError("exactly one of schema or schema_path must be set")
    base = ""
    if schema.strip():
        try:
            document = json.loads(schema)
        except ValueError as exc:
            raise ValueError(f"schema is not JSON: {exc}") from None
    else:
        raw = schema_path.strip()
        path = Path(raw[len("file://") :] if raw.startswith("file://") else raw).resolve()
        document = _read_json_file(path)
        base = path.as_uri()
    if not isinstance(document, (dict, bool)):
        raise ValueError(f"a JSON Schema is an object or a boolean, got {type(document).__name__}")
    cls = validator_for(document, default=Draft7Validator)
    try:
        cls.check_schema(document)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None
    if base and isinstance(document, dict) and "$id" not in document:
        document = {**document, "$id": base}  # relative $refs resolve against the file
    specification = specification_with(cls.META_SCHEMA.get("$schema", ""), default=DRAFT7)
    retrieve = _file_retriever(specification)
    if base:
        _preload(document, base, retrieve, set())
    registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    validator: Draft7Validator = cls(document, registry=registry)
    return validator


@register_processor(
    "json_schema",
    fields=[
        Field(
            "schema",
            "string",
            default="",
            description="The schema, as JSON text. Set this or `schema_path`.",
            examples=('{"type": "object", "required": ["id"]}',),
        ),
        Field(
            "schema_path",
            "string",
            default="",
            description="A file holding the schema (`file://` prefix optional); its relative "
            "`$ref`s resolve against it. Set this or `schema`.",
            examples=("file://path/to/schema.json", "./schemas/reading.json"),
        ),
    ],
    summary="Checks each JSON message against a JSON Schema and flags those that do not match.",
    description=(
        "The schema is loaded and compiled once. A message that is not JSON, or does not "
        "conform, keeps its content and gets an error listing each violation as "
        "`<path> <what is wrong>` (path `(root)` for the document itself, `a.b.0` below it), "
        "so `catch`, `switch` or a `fallback` output can handle it. Drafts 4, 6, 7, 2019-09 "
        "and 2020-12 are followed as `$schema` names them; draft-07 when it names none."
    ),
    examples=(
        "json_schema:\n  schema_path: file://schemas/reading.json\n",
        'json_schema:\n  schema: \'{"type": "object", "required": ["id"]}\'\n',
    ),
)
class JsonSchemaProcessor(Processor):
    """Checks each JSON message against a JSON Schema and flags those that do not match."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.validator = compile_schema(
            str(conf.get("schema") or ""), str(conf.get("schema_path") or "")
        )

    def check(self, document: Any) -> str | None:
        """What is wrong with `document` (one line per violation), None when it conforms."""
        found = list(islice(self.validator.iter_errors(document), MAX_ERRORS + 1))
        if not found:
            return None
        lines = [f"{error_path(e)} {e.message}" for e in found[:MAX_ERRORS]]
        if len(found) > MAX_ERRORS:
            lines.append("(more violations not shown)")
        return "\n".join(lines)

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for msg in batch:
            if msg.error is not None:
                continue
            try:
                problem = self.check(msg.value)
            except PayloadError as exc:
                problem = str(exc)
            except Unresolvable as exc:
                problem = f"json_schema: cannot resolve $ref: {exc}"
            if problem is not None:
                msg.error = problem
        return batch
