"""Config templates: new component types defined by a Bloblang mapping onto an existing one.

A template file (the Benthos v4 format) names a component, declares its fields, and maps the
user's field values (defaults applied, as `this`) to the config of one ordinary component
(`root`). Loaded templates are registered like built-ins, so `list`, lint and the JSON Schema
know them; validation expands each use into the component it maps to, which is then checked
and built as usual (see `_Validator.template` in streamforge.config.validate).

    name: td_mqtt
    type: input
    fields:
      - { name: broker, type: string }
      - { name: topics, type: string, kind: list }
    mapping: |
      root.mqtt.urls = [this.broker]
      root.mqtt.topics = this.topics
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from streamforge.bloblang import DELETED, NOTHING, Executor, MappingError, ParseError, parse
from streamforge.config.loader import expand_paths, load_document, sort_problems
from streamforge.config.model import ComponentConfig, Location, Problem
from streamforge.config.validate import LABEL_PATTERN, validate_component, validate_value
from streamforge.config.yamlpos import Path as YamlPath
from streamforge.config.yamlpos import YamlDocument
from streamforge.plugin import (
    REQUIRED,
    BuildContext,
    ComponentSpec,
    Field,
    Kind,
    PluginError,
    load_builtins,
    registry,
)

__all__ = [
    "FIELD_KINDS",
    "FIELD_TYPES",
    "SHIPPED_PACKAGE",
    "TEMPLATE_SPEC",
    "Template",
    "TemplateError",
    "TemplateField",
    "TemplateTest",
    "load_shipped_templates",
    "load_template_file",
    "load_templates",
    "parse_template",
    "register_template",
    "shipped_template_files",
    "template_of",
    "unregister_template",
]

#: the package the templates of the top-level `templates/` folder install as
SHIPPED_PACKAGE = "streamforge.templates"
#: the `plugin` of every template spec starts with this (then the file it came from)
PLUGIN_PREFIX = "template:"

#: template field type -> the spec field type a value is checked as
FIELD_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "object": "map",
    "array": "array",
    "unknown": "any",
}
FIELD_KINDS = ("scalar", "list", "map")
_COMPONENT_TYPES: tuple[Kind, ...] = ("input", "processor", "output", "cache")
#: types Benthos templates may have that StreamForge has no components of
_UNSUPPORTED_TYPES = ("rate_limit",)
_STATUSES = ("stable", "beta", "experimental", "deprecated")
#: how deep `fields:` of object fields may nest
_MAX_FIELD_DEPTH = 8

_FIELD_SPEC = Field(
    "field",
    "object",
    fields=(
        Field("name", "string", description="The field's name in a config using the template."),
        Field("description", "string", default=""),
        Field("type", "string", options=tuple(FIELD_TYPES)),
        Field("kind", "string", default="scalar", options=FIELD_KINDS),
        Field("default", "any", default=None, description="Makes the field optional."),
        Field("advanced", "bool", default=False),
        Field(
            "secret",
            "bool",
            default=False,
            description="A password, token or key: redacted wherever configs are shown.",
        ),
        Field("examples", "array", default=[]),
        Field("options", "array", default=[], description="The values the field may take."),
        Field("fields", "array", default=[], item=Field("field", "any"),
              description="The fields of an `object` field (checked as these fields)."),
    ),
)  # fmt: skip

_TEST_SPEC = Field(
    "test",
    "object",
    fields=(
        Field("name", "string"),
        Field("label", "string", default=""),
        Field("config", "map", default={}, description="Field values of a use of the template."),
        Field("expected", "map", description="The component config the mapping must give."),
    ),
)

#: the layout of a template file
TEMPLATE_SPEC = Field(
    "template",
    "object",
    fields=(
        Field("name", "string", description="The name the component is used by."),
        Field("type", "string", options=(*_COMPONENT_TYPES, *_UNSUPPORTED_TYPES)),
        Field("status", "string", default="stable", options=_STATUSES),
        Field("categories", "array", default=[], item=Field("category", "string")),
        Field("summary", "string", default=""),
        Field("description", "string", default=""),
        Field("fields", "array", default=[], item=Field("field", "any"),
              description="The fields a use of the template takes."),
        Field("mapping", "string", description="Bloblang: field values -> component config."),
        Field("metrics_mapping", "string", default="", advanced=True,
              description="Accepted for Benthos templates; StreamForge does not rename metrics."),
        Field("tests", "array", default=[], item=Field("test", "any"),
              description="Field configs and the component configs they must map to."),
    ),
)  # fmt: skip


class TemplateError(Exception):
    """A template's mapping failed, or gave something that is not a component config."""


@dataclass(frozen=True)
class TemplateField:
    """One field of a template, as declared in its file."""

    name: str
    type: str
    kind: str = "scalar"
    default: Any = REQUIRED
    description: str = ""
    advanced: bool = False
    secret: bool = False
    examples: tuple[Any, ...] = ()
    options: tuple[Any, ...] = ()
    fields: tuple[TemplateField, ...] = ()

    def spec_field(self) -> Field:
        """The spec field a value of this template field is checked and documented as."""
        item = self._item(self.name)
        if self.kind == "scalar":
            return _with(item, default=self.default, description=self.description,
                         advanced=self.advanced, examples=self.examples,
                         secret=self.secret)  # fmt: skip
        return Field(
            self.name,
            "array" if self.kind == "list" else "map",
            default=self.default,
            description=self.description,
            advanced=self.advanced,
            examples=self.examples,
            item=item,
            secret=self.secret,
        )

    def _item(self, name: str) -> Field:
        """One value of the field (the whole value for scalars, an element for lists/maps)."""
        if self.fields:
            return Field(name, "object", fields=tuple(f.spec_field() for f in self.fields))
        return Field(name, FIELD_TYPES[self.type], options=self.options)


def _with(f: Field, **changes: Any) -> Field:
    values = {k: getattr(f, k) for k in ("name", "type", "options", "fields", "item")}
    values.update(changes)
    return Field(**values)


@dataclass(frozen=True)
class TemplateTest:
    """A field config and the component config the template's mapping must turn it into."""

    name: str
    config: dict[str, Any]
    expected: dict[str, Any]
    label: str
    path: YamlPath


@dataclass
class Template:
    """A parsed, checked template with its mapping compiled once."""

    name: str
    type: Kind
    mapping: Executor
    fields: tuple[TemplateField, ...] = ()
    status: str = "stable"
    categories: tuple[str, ...] = ()
    summary: str = ""
    description: str = ""
    tests: tuple[TemplateTest, ...] = ()
    file: str = ""
    doc: YamlDocument | None = field(default=None, repr=False)
    plugin: str = ""

    @property
    def location(self) -> Location:
        """Where the template's `name` is written."""
        if self.doc is None:
            return Location(self.file or self.name, 1, 1)
        return self.doc.location(("name",))

    def spec(self) -> ComponentSpec:
        """The component spec `list`, lint and the JSON Schema know the template by."""
        config = Field(
            self.name, "object", default={}, fields=tuple(f.spec_field() for f in self.fields)
        )
        return ComponentSpec(
            name=self.name,
            kind=self.type,
            config=config,
            factory=TemplateFactory(self),
            summary=self.summary or _first_line(self.description),
            description=self.description,
            status=self.status,
            plugin=self.plugin or f"{PLUGIN_PREFIX}{self.file}",
        )

    def expand(self, values: dict[str, Any], label: str | None = None) -> dict[str, Any]:
        """The component config the mapping makes of `values` (checked field values).

        Raises TemplateError when the mapping fails or its result is not an object.
        """
        try:
            root = self.mapping.query(copy.deepcopy(values))
        except MappingError as exc:
            raise TemplateError(f"the mapping of template {self.name!r} failed: {exc}") from None
        if root is NOTHING:
            raise TemplateError(f"the mapping of template {self.name!r} gave no config")
        if root is DELETED:
            raise TemplateError(f"the mapping of template {self.name!r} deleted the config")
        if not isinstance(root, dict):
            raise TemplateError(
                f"the mapping of template {self.name!r} gave {_type_name(root)}, "
                f"not {_article(self.type)} {self.type} config (an object)"
            )
        if label:
            root["label"] = label
        return root

    def run_tests(self) -> list[Problem]:
        """Run the template's own `tests`: each problem at the test that failed."""
        if self.doc is None:
            return []
        load_builtins()
        doc = self.doc
        config_field = self.spec().config
        problems: list[Problem] = []
        for test in self.tests:
            values, found = validate_value(
                config_field, test.config, doc, (*test.path, "config"), f"test {test.name!r}"
            )
            if found:
                problems.extend(Problem(p.location, _in_test(test.name, p.message)) for p in found)
                continue
            at = doc.location(test.path)
            try:
                got = self.expand(values, test.label or None)
            except TemplateError as exc:
                problems.append(Problem(at, f"test {test.name!r}: {exc}"))
                continue
            if got != test.expected:
                why = _difference(got, test.expected)
                problems.append(
                    Problem(
                        doc.key_location((*test.path, "expected")), f"test {test.name!r}: {why}"
                    )
                )
                continue
            _, found = validate_component(self.type, got, at)
            problems.extend(
                Problem(p.location, f"test {test.name!r}: the mapped {self.type} is invalid: "
                        f"{p.message}")
                for p in found
            )  # fmt: skip
        return problems


class TemplateFactory:
    """The factory of a template's spec: expands the config and builds what it maps to.

    Streams never reach it (validation expands templates in place); it serves code that
    builds a component config of the template's type directly.
    """

    def __init__(self, template: Template) -> None:
        self.template = template

    def __call__(self, conf: Any, ctx: BuildContext) -> Any:
        t = self.template
        config: ComponentConfig | None = getattr(ctx, "config", None)
        at = config.location if config is not None else Location(ctx.path or t.name, 1, 1)
        result = t.expand(dict(conf or {}), getattr(config, "label", None))
        inner, problems = validate_component(t.type, result, at, path=ctx.path)
        if problems or inner is None:
            raise ValueError(
                f"the mapping of template {t.name!r} gave an invalid {t.type}: "
                + "; ".join(p.message for p in problems)
            )
        if inner.type == "resource":
            raise ValueError(f"template {t.name!r} maps to a resource, which is only resolved "
                             "in a stream")  # fmt: skip
        if t.type == "processor":
            return ctx.build_processors([inner])[0]
        if t.type == "input":
            return ctx.build_input(inner)
        if t.type == "output":
            return ctx.build_output(inner)
        spec = registry.get(inner.kind, inner.type)
        assert spec is not None
        return spec.factory(inner.conf, ctx)


def template_of(spec: ComponentSpec | None) -> Template | None:
    """The template behind a registered spec (None for every other component)."""
    factory = getattr(spec, "factory", None)
    return factory.template if isinstance(factory, TemplateFactory) else None


# -- parsing --------------------------------------------------------------------------------


def parse_template(doc: YamlDocument, *, plugin: str = "") -> tuple[Template | None, list[Problem]]:
    """Check a loaded template file; returns the template (None when it has problems)."""
    problems = list(doc.problems)
    if doc.data is None and not problems:
        problems.append(Problem(Location(doc.file, 1, 1), "the template file is empty"))
    if problems:
        return None, problems
    values, problems = validate_value(TEMPLATE_SPEC, doc.data, doc, (), "template")
    if not isinstance(values, dict):
        return None, problems
    name, ctype = values.get("name"), values.get("type")
    if isinstance(name, str) and (not LABEL_PATTERN.match(name) or name.startswith("_")):
        problems.append(
            Problem(doc.location(("name",)), f'template name "{name}" is invalid: names must '
                    "match /^[a-z0-9_]+$/ and must not start with an underscore")
        )  # fmt: skip
    if ctype in _UNSUPPORTED_TYPES:
        problems.append(
            Problem(doc.location(("type",)), f'template type "{ctype}" is not supported: '
                    f"StreamForge has no {ctype} components (valid: {', '.join(_COMPONENT_TYPES)})")
        )  # fmt: skip
    items = values.get("fields")
    fields = _fields(doc, items if isinstance(items, list) else [], ("fields",), problems, depth=0)
    mapping = values.get("mapping")
    executor = _compile(doc, mapping, ("mapping",), problems) if isinstance(mapping, str) else None
    metrics_mapping = values.get("metrics_mapping")
    if isinstance(metrics_mapping, str) and metrics_mapping.strip():
        _compile(doc, metrics_mapping, ("metrics_mapping",), problems)
    raw_tests = values.get("tests")
    tests = _tests(doc, raw_tests if isinstance(raw_tests, list) else [], problems)
    if problems or executor is None or not isinstance(name, str) or ctype not in _COMPONENT_TYPES:
        return None, problems
    template = Template(
        name=name,
        type=cast(Kind, ctype),
        mapping=executor,
        fields=fields,
        status=values["status"],
        categories=tuple(values["categories"]),
        summary=values["summary"].strip(),
        description=values["description"].strip(),
        tests=tests,
        file=doc.file,
        doc=doc,
        plugin=plugin,
    )
    try:
        template.spec()
    except ValueError as exc:  # a spec the registry cannot take (should not happen)
        return None, [Problem(template.location, str(exc))]
    return template, []


def _tests(
    doc: YamlDocument, items: list[Any], problems: list[Problem]
) -> tuple[TemplateTest, ...]:
    out: list[TemplateTest] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        at: YamlPath = ("tests", i)
        t, found = validate_value(_TEST_SPEC, raw, doc, at, "template test")
        problems.extend(found)
        if found or not isinstance(t, dict):
            continue
        if t["name"] in seen:
            first = doc.location(("tests", seen[t["name"]], "name")).line
            problems.append(
                Problem(doc.location((*at, "name")),
                        f'duplicate test name "{t["name"]}" (first used at line {first})')
            )  # fmt: skip
        seen.setdefault(t["name"], i)
        out.append(TemplateTest(t["name"], t["config"], t["expected"], t["label"], at))
    return tuple(out)


def _fields(
    doc: YamlDocument, items: list[Any], path: YamlPath, problems: list[Problem], *, depth: int
) -> tuple[TemplateField, ...]:
    """The declared fields at `path` (each checked against the field layout)."""
    out: list[TemplateField] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        at: YamlPath = (*path, i)
        raw, found = validate_value(_FIELD_SPEC, item, doc, at, "template field")
        problems.extend(found)
        if found or not isinstance(raw, dict):
            continue
        name = raw["name"]
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            problems.append(
                Problem(doc.location((*at, "name")), f'field name "{name}" is invalid: use '
                        "letters, digits and underscores, not starting with a digit")
            )  # fmt: skip
        if name in seen:
            first = doc.location((*path, seen[name], "name")).line
            problems.append(
                Problem(doc.location((*at, "name")),
                        f'duplicate field "{name}" (first declared at line {first})')
            )  # fmt: skip
        seen.setdefault(name, i)
        nested: tuple[TemplateField, ...] = ()
        children = raw["fields"]
        if children:
            if raw["type"] != "object":
                problems.append(
                    Problem(doc.key_location((*at, "fields")), f"field {name}: only fields of "
                            f"type object have fields (this one is {raw['type']})")
                )  # fmt: skip
            elif depth >= _MAX_FIELD_DEPTH:
                problems.append(Problem(doc.key_location((*at, "fields")),
                                        f"field {name}: fields nest too deeply"))  # fmt: skip
            else:
                nested = _fields(doc, children, (*at, "fields"), problems, depth=depth + 1)
        if raw["options"] and raw["type"] not in ("string", "int", "float"):
            problems.append(
                Problem(doc.key_location((*at, "options")),
                        f"field {name}: options are for string and number fields")
            )  # fmt: skip
        declared = isinstance(item, dict) and "default" in item
        tf = TemplateField(
            name=name,
            type=raw["type"],
            kind=raw["kind"],
            default=raw["default"] if declared else REQUIRED,
            description=raw["description"].strip(),
            advanced=raw["advanced"],
            secret=raw["secret"],
            examples=tuple(raw["examples"]),
            options=tuple(raw["options"]),
            fields=nested,
        )
        if declared and tf.default is not None:
            _, found = validate_value(
                _with(tf.spec_field(), default=REQUIRED), tf.default, doc, (*at, "default"), ""
            )
            problems.extend(
                Problem(p.location, f"field {name}: default: {_strip_field(p.message)}")
                for p in found
            )
        out.append(tf)
    return tuple(out)


def _strip_field(message: str) -> str:
    return message.split(": ", 1)[1] if message.startswith("field ") else message


def _compile(
    doc: YamlDocument, text: str, path: YamlPath, problems: list[Problem]
) -> Executor | None:
    base = Path(doc.file).parent
    try:
        return parse(text, import_paths=(str(base),))
    except ParseError as exc:
        loc = doc.scalar_location(path, text, exc.line, exc.column)
        problems.append(Problem(loc, f"{path[-1]}: bad Bloblang: {exc.reason}"))
        return None


# -- loading and registering ----------------------------------------------------------------


def load_template_file(
    path: str | os.PathLike[str], *, plugin: str = ""
) -> tuple[Template | None, list[Problem]]:
    """Read and check one template file."""
    return parse_template(load_document(path), plugin=plugin)


def register_template(template: Template) -> list[Problem]:
    """Register the template as a component of its type; an earlier template of the same
    name is replaced, a built-in or plugin component of that name is not."""
    existing = registry.get(template.type, template.name)
    if existing is not None and template_of(existing) is None:
        return [
            Problem(
                template.location,
                f'{template.type} "{template.name}" is already a component ({existing.plugin}); '
                "a template needs a name of its own",
            )
        ]
    try:
        registry.add(template.spec(), replace=True)
    except PluginError as exc:
        return [Problem(template.location, str(exc))]
    return []


def unregister_template(kind: Kind, name: str) -> bool:
    """Forget a registered template (not other components); True when one was removed."""
    if template_of(registry.get(kind, name)) is None:
        return False
    registry.remove(kind, name)
    return True


def load_templates(
    patterns: Sequence[str | os.PathLike[str]], *, run_tests: bool = False
) -> list[Problem]:
    """Load and register every template file matched by `patterns` (globs, as `-t` in Benthos).

    Every problem is returned sorted, as `file:line:col: message`; templates with problems are
    not registered. With `run_tests`, each template's own `tests` run too.
    """
    load_builtins()
    paths, problems = expand_paths(patterns)
    problems.extend(_load_files(paths, run_tests=run_tests))
    return sort_problems(problems)


def _load_files(paths: Sequence[Path], *, run_tests: bool, plugin: str = "") -> list[Problem]:
    problems: list[Problem] = []
    first: dict[tuple[str, str], Template] = {}
    for path in paths:
        template, found = load_template_file(path, plugin=plugin)
        problems.extend(found)
        if template is None:
            continue
        key = (template.type, template.name)
        if key in first:
            other = first[key].location
            problems.append(
                Problem(template.location, f'{template.type} template "{template.name}" is '
                        f"defined twice (first in {other})")
            )  # fmt: skip
            continue
        first[key] = template
        if run_tests:
            failed = template.run_tests()
            if failed:
                problems.extend(failed)
                continue
        problems.extend(register_template(template))
    return problems


def shipped_template_files() -> list[Path]:
    """The templates shipped with StreamForge: the installed package's, else the source tree's."""
    try:
        root = importlib.resources.files(SHIPPED_PACKAGE)
        found = sorted(
            Path(str(entry))
            for entry in root.iterdir()
            if entry.name.endswith(".yaml") and entry.is_file()
        )
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        found = []
    if found:
        return found
    return sorted((Path(__file__).resolve().parents[2] / "templates").glob("*.yaml"))


_shipped: list[Problem] | None = None


def load_shipped_templates() -> list[Problem]:
    """Register the shipped templates (once per process); their problems, if any."""
    global _shipped
    if _shipped is None:
        load_builtins()
        _shipped = _load_files(shipped_template_files(), run_tests=False, plugin=SHIPPED_PACKAGE)
    return list(_shipped)


# -- messages -------------------------------------------------------------------------------


def _in_test(name: str, message: str) -> str:
    prefix = f"test {name!r}"
    return message if message.startswith(prefix) else f"{prefix}: {message}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "a bool"), ((int, float), "a number"), (str, "a string"),
                       ((bytes, bytearray), "bytes"), (list, "an array")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _difference(got: Any, expected: Any, where: str = "") -> str:
    """The first place `got` and `expected` differ, as a sentence."""
    at = f" at {where}" if where else ""
    prefix = f"{where}." if where else ""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in expected:
            if key not in got:
                return f"the mapping gave no {prefix}{key}"
        for key in got:
            if key not in expected:
                return f"the mapping gave {prefix}{key}, which is not expected"
        for key in expected:
            if got[key] != expected[key]:
                return _difference(got[key], expected[key], f"{where}.{key}" if where else key)
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                return _difference(g, e, f"{where}.{i}" if where else str(i))
    return f"the mapping gave {_show(got)}{at}, expected {_show(expected)}"
