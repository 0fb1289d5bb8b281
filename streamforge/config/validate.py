"""Validate a stream document against the component specs; collect every problem.

The result is a StreamConfig whose component configs have defaults filled in and
nested components turned into ComponentConfig objects. Every problem carries the
file, line and column of the offending key or value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any, cast

from streamforge.config.model import (
    ELSEWHERE_HINT,
    ComponentConfig,
    Location,
    Problem,
    StreamConfig,
)
from streamforge.config.sections import SectionError, sections
from streamforge.config.service import SERVICE_FIELDS, SERVICE_SECTIONS, check_service_sections
from streamforge.config.yamlpos import NodeInfo, Path, YamlDocument, path_str
from streamforge.durations import DurationError, parse_duration
from streamforge.plugin import (
    REQUIRED,
    Field,
    Kind,
    PluginError,
    load_builtins,
    load_plugins,
    registry,
)
from streamforge.plugin.benthos_names import missing_component
from streamforge.plugin.similar import close_match

__all__ = [
    "IGNORED_TOP_LEVEL",
    "LABEL_PATTERN",
    "MAX_TEMPLATE_DEPTH",
    "STREAM_FIELDS",
    "validate_component",
    "validate_document",
    "validate_value",
]

#: Benthos' rule for component labels (and it must not start with an underscore)
LABEL_PATTERN = re.compile(r"^[a-z0-9_]+$")

#: top-level keys accepted and kept in `raw` but not used: none, every Benthos v4 section is
#: checked (one StreamForge does not support is a lint error naming it)
IGNORED_TOP_LEVEL: frozenset[str] = frozenset()

_COMPONENT_TYPES: dict[str, Kind] = {
    "input": "input",
    "processor": "processor",
    "output": "output",
    "cache": "cache",
    "rate_limit": "rate_limit",
}
_RESOURCE_KEYS: dict[str, Kind] = {
    "input_resources": "input",
    "processor_resources": "processor",
    "output_resources": "output",
    "cache_resources": "cache",
    "rate_limit_resources": "rate_limit",
}
#: resources that exist only as resources, referenced by label (no `resource:` form)
_LABEL_ONLY = ("cache", "rate_limit")
_CHOICES_SHOWN = 25
#: how many templates may expand into one another
MAX_TEMPLATE_DEPTH = 16


def _resource_list(name: str, kind: Kind) -> Field:
    how = "by their label" if kind in _LABEL_ONLY else "as `resource: <label>`"
    return Field(
        name, "array", default=[], item=Field(kind, kind),
        description=f"{kind.capitalize().replace('_', ' ')}s referenced elsewhere {how}.",
    )  # fmt: skip


#: The stream document itself, described with the same Field types as components.
STREAM_FIELDS = Field(
    "stream",
    "object",
    default={},
    fields=(
        Field("http", "object", default={}, description="The HTTP server for metrics and probes.",
              fields=(
                  Field("enabled", "bool", default=True),
                  Field("address", "string", default="0.0.0.0:4195"),
                  Field("root_path", "string", default="/benthos", advanced=True),
                  Field("debug_endpoints", "bool", default=False, advanced=True),
              )),
        Field("input", "input", description="Where messages come from."),
        Field("pipeline", "object", default={}, description="Processors applied to every message.",
              fields=(
                  Field("threads", "int", default=-1,
                        description="Workers; -1 means one per CPU core."),
                  Field("processors", "array", default=[], item=Field("processor", "processor")),
              )),
        Field("output", "output", description="Where messages go."),
        Field("resources", "object", default={}, description="Labelled reusable components.",
              fields=tuple(_resource_list(k, v) for k, v in _RESOURCE_KEYS.items())),
        *(_resource_list(k, v) for k, v in _RESOURCE_KEYS.items()),
        Field("logger", "object", default={}, fields=(
            Field("level", "string", default="INFO",
                  options=("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF")),
            Field("format", "string", default="logfmt", options=("logfmt", "json")),
            Field("add_timestamp", "bool", default=False),
            Field("static_fields", "map", default={}),
        )),
        *SERVICE_FIELDS,
        Field("plugins", "array", default=[], item=Field("plugin", "string"),
              description="Python files (relative to this config) or modules to load."),
        Field("tests", "array", default=[], item=Field("test", "any"),
              description="Config unit tests in the Benthos format."),
    ),
)  # fmt: skip


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _suggest(name: str, choices: Sequence[str]) -> str:
    match = close_match(name, choices)
    return f', did you mean "{match}"?' if match else ""


def _unknown_type(kind: str, name: str, names: Sequence[str]) -> str:
    """An unknown component type: one Benthos has is said so; else a did-you-mean."""
    missing = missing_component(kind, name)
    if missing is not None:
        return missing
    return f'unknown {kind} type "{name}"{_suggest(name, names)}{_choices(names)}'


def _choices(choices: Sequence[str]) -> str:
    if not choices or len(choices) > _CHOICES_SHOWN:
        return ""
    return f" (valid: {', '.join(choices)})"


def _bloblang() -> Any:
    try:
        import streamforge.bloblang as bloblang
    except ImportError:
        return None
    return bloblang if hasattr(bloblang, "parse_query") else None


class _Validator:
    def __init__(self, doc: YamlDocument, base_dir: FsPath | None) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.labels: dict[str, Location] = {}
        self.references: list[tuple[ComponentConfig, Path]] = []
        #: string fields naming a resource by label: (resource kind, label, field name, path)
        self.label_refs: list[tuple[str, str, str, Path]] = []
        self.bloblang = _bloblang()
        #: names of the templates being expanded, outermost first
        self.expanding: list[str] = []

    # -- reporting ----------------------------------------------------------------------
    def report(self, loc: Location, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def at(self, path: Path, message: str) -> None:
        self.report(self.doc.location(path), message)

    def at_key(self, path: Path, message: str) -> None:
        self.report(self.doc.key_location(path), message)

    # -- fields -------------------------------------------------------------------------
    def value(self, f: Field, value: Any, path: Path, name: str, where: str) -> Any:
        """Check `value` against `f`; returns it normalised with defaults filled in.

        A field with its own `parser` (ParsedField) is also checked by it, so lint reports
        exactly what the component would refuse, at the value's place.
        """
        before = len(self.problems)
        result = self._value(f, value, path, name, where)
        parser = getattr(f, "parser", None)
        if parser is not None and f.type != "duration" and len(self.problems) == before:
            try:
                parser(result)
            except ValueError as exc:
                self.at(path, _name_problem(name, str(exc)))
        return result

    def _value(self, f: Field, value: Any, path: Path, name: str, where: str) -> Any:
        t = f.type
        if t in _COMPONENT_TYPES:
            return self.component(_COMPONENT_TYPES[t], value, path)
        if value is None and t in ("object", "map", "array"):
            value = [] if t == "array" else {}
        if t == "object":
            if not isinstance(value, dict):
                return self.wrong_type(path, name, "object", value)
            return self.object(f.fields, value, path, name, where)
        if t == "array":
            if not isinstance(value, list):
                return self.wrong_type(path, name, "array", value)
            if f.item is None:
                return copy.deepcopy(value)
            return [
                self.value(f.item, v, (*path, i), f"{name}.{i}" if name else str(i), where)
                for i, v in enumerate(value)
            ]
        if t == "map":
            if not isinstance(value, dict):
                return self.wrong_type(path, name, "object", value)
            if f.item is None:
                return copy.deepcopy(value)
            return {
                k: self.value(f.item, v, (*path, k), f"{name}.{k}" if name else str(k), where)
                for k, v in value.items()
            }
        if t == "any":
            return copy.deepcopy(value)
        return self.scalar(f, value, path, name)

    def wrong_type(self, path: Path, name: str, expected: str, value: Any) -> Any:
        label = f"field {name}: " if name else ""
        self.at(path, f"{label}expected {expected}, got {_type_name(value)}")
        return value

    def scalar(self, f: Field, value: Any, path: Path, name: str) -> Any:
        t = f.type
        if t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return self.wrong_type(path, name, "int", value)
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.wrong_type(path, name, "number", value)
        elif t == "bool":
            if not isinstance(value, bool):
                return self.wrong_type(path, name, "bool", value)
        elif t == "duration":
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                return self.wrong_type(path, name, "duration", value)
            parser = getattr(f, "parser", None) or parse_duration
            try:
                parser(value)
            except (DurationError, ValueError) as exc:
                self.at(path, f"field {name}: {exc}")
        else:  # string, mapping, query
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (int, float)) and t == "string":
                # a number where text is wanted is the text as written (`007`, `1_000`)
                value = self.doc.plain_text(path) or str(value)
            if not isinstance(value, str):
                return self.wrong_type(path, name, "string", value)
            if t == "mapping":
                self.check_bloblang(value, path, name, query=False)
            elif t == "query":
                self.check_bloblang(value, path, name, query=True)
            elif f.interpolable:
                self.check_interpolation(value, path, name)
            if f.references and (value or f.required):  # an optional empty label names none
                self.label_refs.append((f.references, value, name, path))
        if f.options:
            self.check_option(f, value, path, name)
        return value

    def check_option(self, f: Field, value: Any, path: Path, name: str) -> None:
        options = list(f.options)
        if value in options:
            return
        if isinstance(value, str) and name.endswith("level"):
            upper = value.upper()
            if upper in options:
                return
        texts = [str(o) for o in options]  # a template's int field has int options
        hint = _suggest(str(value), texts)
        self.at(path, f'field {name}: "{value}" is not one of {", ".join(texts)}{hint}')

    def check_bloblang(self, text: str, path: Path, name: str, *, query: bool) -> None:
        bl = self.bloblang
        if bl is None or (query and not text.strip()):
            return
        try:
            if query:
                bl.parse_query(text)
            else:
                imports = (str(self.base_dir),) if self.base_dir is not None else ()
                bl.parse(text, import_paths=imports)
        except bl.ParseError as exc:
            loc = self.doc.scalar_location(path, text, exc.line, exc.column)
            self.report(loc, f"field {name}: bad Bloblang: {exc.reason}")

    def check_interpolation(self, text: str, path: Path, name: str) -> None:
        if "${" not in text or self.bloblang is None:
            return
        from streamforge.bloblang.errors import ParseError
        from streamforge.interpolation import InterpolatedString

        try:
            InterpolatedString(text)
        except ParseError as exc:
            loc = self.doc.scalar_location(path, text, exc.line, exc.column)
            self.report(loc, f"field {name}: bad interpolation: {exc.reason}")

    def object(
        self, fields: Sequence[Field], value: dict[str, Any], path: Path, name: str, where: str
    ) -> dict[str, Any]:
        known = {f.name: f for f in fields}
        out: dict[str, Any] = {}
        for key in value:
            if key not in known:
                prefix = f"{where}.{name}" if name else where
                self.at_key(
                    (*path, key),
                    f'unknown field "{key}" in {prefix}{_suggest(str(key), list(known))}'
                    + ("" if _suggest(str(key), list(known)) else _choices(list(known))),
                )
        for f in fields:
            sub = f"{name}.{f.name}" if name else f.name
            if f.name in value:
                out[f.name] = self.value(f, value[f.name], (*path, f.name), sub, where)
            elif f.default is REQUIRED:
                self.at_key(path, f'{where}: missing required field "{sub}"')
            else:
                out[f.name] = self.default(f)
        return out

    def default(self, f: Field) -> Any:
        value = copy.deepcopy(f.default)
        if f.type == "object" and isinstance(value, dict) and f.fields:
            for sub in f.fields:
                if sub.name not in value and sub.default is not REQUIRED:
                    value[sub.name] = self.default(sub)
        return value

    # -- components ---------------------------------------------------------------------
    def component(self, kind: Kind, value: Any, path: Path) -> ComponentConfig | None:
        if not isinstance(value, dict):
            article = "an" if kind[0] in "aeiou" else "a"
            self.at(path, f"expected {article} {kind} config (an object), got {_type_name(value)}")
            return None
        extra = {"label", "processors"} if kind in ("input", "output") else {"label"}
        names = registry.names(kind)
        type_keys = [k for k in value if k not in extra]
        referable = kind not in _LABEL_ONLY  # resources themselves, referenced by label
        valid = [
            k
            for k in type_keys
            if (k == "resource" and referable) or registry.get(kind, k) is not None
        ]
        if len(valid) > 1:
            self.at_key(
                (*path, valid[1]),
                f"{kind} has more than one type: {', '.join(valid)} (use one per {kind})",
            )
            return None
        if not valid:
            if not type_keys:
                self.at(path, f"{kind} has no type{_choices(names)}")
                return None
            for key in type_keys:
                self.at_key((*path, key), _unknown_type(kind, str(key), names))
            return None
        ctype = valid[0]
        for key in type_keys:
            if key != ctype:
                hint = _suggest(str(key), sorted(extra))
                self.at_key((*path, key), f'unknown field "{key}" in {kind} {ctype}{hint}')
        where = f"{kind} {ctype}"
        template = _template_of(registry.get(kind, ctype)) if ctype != "resource" else None
        if template is not None:
            return self.template(kind, ctype, template, value, path)
        label = self.label(value, path)
        cc = ComponentConfig(
            kind=kind,
            type=ctype,
            conf=None,
            path=path_str(path),
            location=self.doc.location(path),
            label=label,
        )
        if ctype == "resource":
            ref = value[ctype]
            if not isinstance(ref, str) or not ref:
                self.at((*path, ctype), f"resource: expected a label, got {_type_name(ref)}")
                return None
            cc.conf = ref
            self.references.append((cc, path))
        else:
            spec = registry.get(kind, ctype)
            assert spec is not None
            raw = value[ctype]
            conf_path = (*path, ctype)
            if spec.config.type == "object":
                if raw is None:
                    raw = {}
                if not isinstance(raw, dict):
                    self.at(conf_path, f"{where}: expected an object, got {_type_name(raw)}")
                    return None
                cc.conf = self.object(spec.config.fields, raw, conf_path, "", where)
            else:
                cc.conf = self.value(spec.config, raw, conf_path, ctype, where)
        if "processors" in value and kind in ("input", "output"):
            cc.processors = self.level_processors(value["processors"], path)
        return cc

    def level_processors(self, procs: Any, path: Path) -> list[ComponentConfig]:
        """The input- or output-level `processors:` of the component at `path`."""
        if procs is None:
            return []
        if not isinstance(procs, list):
            self.at((*path, "processors"), f"processors: expected array, got {_type_name(procs)}")
            return []
        built = [
            self.component("processor", p, (*path, "processors", i)) for i, p in enumerate(procs)
        ]
        return [p for p in built if p is not None]

    def template(
        self, kind: Kind, ctype: str, template: Any, value: dict[str, Any], path: Path
    ) -> ComponentConfig | None:
        """Check the fields of a use of a config template and expand it in place.

        The result is the component the template's mapping gives, validated like one written
        by hand; its problems are reported at the template's use, naming the template. The
        use's `label` and input/output-level `processors` apply to that component.
        """
        where = f"{kind} {ctype}"
        raw = value[ctype]
        conf_path = (*path, ctype)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.at(conf_path, f"{where}: expected an object, got {_type_name(raw)}")
            return None
        spec = registry.get(kind, ctype)
        assert spec is not None
        before = len(self.problems)
        fields = self.object(spec.config.fields, raw, conf_path, "", where)
        label = self.label(value, path)
        if len(self.problems) > before:
            return None
        at = self.doc.location(path)
        if ctype in self.expanding or len(self.expanding) >= MAX_TEMPLATE_DEPTH:
            chain = " -> ".join([*self.expanding, ctype])
            self.report(at, f"{where}: templates expand into each other ({chain})")
            return None
        from streamforge.config.templates import TemplateError

        try:
            result = template.expand(fields)
        except TemplateError as exc:
            self.report(at, f"{where}: {exc}")
            return None
        if label is not None:
            result.pop("label", None)
        mark = len(self.problems)
        self.expanding.append(ctype)
        try:
            cc = self.component(kind, result, path)
        finally:
            self.expanding.pop()
        self.problems[mark:] = [
            Problem(at, f"{where}: the mapping of template {ctype!r} gave an invalid {kind}: "
                    f"{p.message}")
            for p in self.problems[mark:]
        ]  # fmt: skip
        if cc is None or len(self.problems) > mark:
            return None
        if label is not None:
            cc.label = label
        if "processors" in value and kind in ("input", "output"):
            cc.processors = [*cc.processors, *self.level_processors(value["processors"], path)]
        return cc

    def label(self, value: dict[str, Any], path: Path) -> str | None:
        if "label" not in value or value["label"] in (None, ""):
            return None
        label = value["label"]
        lpath = (*path, "label")
        if not isinstance(label, str):
            self.at(lpath, f"label: expected string, got {_type_name(label)}")
            return None
        if label.startswith("_") or not LABEL_PATTERN.match(label):
            self.at(
                lpath,
                f'label "{label}" is invalid: labels must match /^[a-z0-9_]+$/ '
                "and must not start with an underscore",
            )
        first = self.labels.get(label)
        if first is not None:
            here = self.doc.location(lpath)
            where = f"line {first.line}" if first.file == here.file else str(first)
            self.at(lpath, f'duplicate label "{label}" (first used at {where})')
        else:
            self.labels[label] = self.doc.location(lpath)
        return label


def _template_of(spec: Any) -> Any:
    """The config template behind a registered spec, if it is one."""
    return getattr(getattr(spec, "factory", None), "template", None)


def _load_templates(v: _Validator) -> None:
    """Register the shipped config templates (once per process)."""
    from streamforge.config.templates import load_shipped_templates

    v.problems.extend(load_shipped_templates())


def validate_value(
    f: Field, value: Any, doc: YamlDocument, path: Path, where: str
) -> tuple[Any, list[Problem]]:
    """Check `value` (found at `path` in `doc`) against the field `f`, as a config is checked.

    Returns the value with defaults filled in, and the problems at their place in `doc`.
    """
    v = _Validator(doc, FsPath(doc.file).parent if doc.file else None)
    out = v.value(f, value, path, "", where)
    return out, v.problems


def validate_component(
    kind: Kind, value: Any, location: Location, *, path: str = ""
) -> tuple[ComponentConfig | None, list[Problem]]:
    """Validate a component config that is not in a file (e.g. a template's result).

    Every problem is reported at `location`; `path` names the component (its config path).
    """
    doc = YamlDocument(file=location.file, source="", data=value)
    doc.nodes[()] = NodeInfo(location, None, "", 0, 0)
    v = _Validator(doc, FsPath(location.file).parent if location.file else None)
    keys: Path = tuple(path.split(".")) if path else ()
    cc = v.component(kind, value, keys)
    if cc is not None:
        cc.location = location
    return (cc if not v.problems else None), v.problems


def _load_plugins(v: _Validator, data: dict[str, Any]) -> None:
    plugins = data.get("plugins")
    if not isinstance(plugins, list):
        return
    for i, ref in enumerate(plugins):
        if not isinstance(ref, str):
            continue
        try:
            load_plugins([ref], base_dir=v.base_dir)
        except PluginError as exc:
            v.at(("plugins", i), str(exc))


def validate_document(
    doc: YamlDocument,
    name: str,
    file_path: FsPath,
    *,
    default_components: bool = True,
    resources_elsewhere: bool = False,
) -> tuple[StreamConfig | None, list[Problem]]:
    """Validate a loaded YAML document as one stream; returns (config or None, problems).

    Built-in components are loaded first, then the document's `plugins:`. When
    `default_components` is true, a missing `input`/`output` means `stdin`/`stdout`
    as in Benthos. With `resources_elsewhere` (lint of one file), a reference to a resource
    the document does not define is a warning and the stream is still returned, its
    `defined_elsewhere` naming those resources.
    """
    problems = [p for p in doc.problems if not p.warning]
    warnings = [p for p in doc.problems if p.warning]
    v = _Validator(doc, file_path.parent if file_path.name else None)
    data = doc.data
    if data is None and not doc.problems:
        data = {}
    if not isinstance(data, dict):
        if data is not None:
            v.at((), f"expected an object at the top of the config, got {_type_name(data)}")
        return None, problems + v.problems + warnings
    try:
        load_builtins()
    except PluginError as exc:
        v.at((), str(exc))
    _load_plugins(v, data)
    _load_templates(v)

    body = {k: val for k, val in data.items() if k not in IGNORED_TOP_LEVEL}
    for key, default in (("input", "stdin"), ("output", "stdout")):
        registered = registry.get(cast(Kind, key), default) is not None
        if key not in body and default_components and registered:
            body[key] = {default: None}
    owned = _check_sections(v, body)
    service = check_service_sections(v, body)
    conf = v.object(
        STREAM_FIELDS.fields,
        {k: val for k, val in body.items() if k not in owned and k not in SERVICE_SECTIONS},
        (),
        "",
        "stream",
    )
    if isinstance(conf.get("logger"), dict) and isinstance(conf["logger"].get("level"), str):
        conf["logger"]["level"] = conf["logger"]["level"].upper()

    resources: dict[Kind, dict[str, ComponentConfig]] = {k: {} for k in _RESOURCE_KEYS.values()}
    res_lists: list[tuple[str, Any, Path]] = [(k, conf.get(k) or [], (k,)) for k in _RESOURCE_KEYS]
    res_lists += [
        (k, (conf.get("resources") or {}).get(k) or [], ("resources", k)) for k in _RESOURCE_KEYS
    ]
    #: labels of resources reported already (e.g. an unknown type): references stay quiet
    reported: dict[str, set[str]] = {k: set() for k in _RESOURCE_KEYS.values()}
    for key, items, base in res_lists:
        kind = _RESOURCE_KEYS[key]
        for i, cc in enumerate(items):
            if not isinstance(cc, ComponentConfig):
                label = _raw_label(data, (*base, i))
                if label is not None:
                    reported[kind].add(label)
                continue
            if not cc.label:
                v.at((*base, i), f"{kind} resource needs a label to be referenced by")
                continue
            resources[kind][cc.label] = cc
    undefined: list[tuple[str, str, Location, str]] = []
    for ref, ref_path in v.references:
        target = str(ref.conf)
        if target not in resources[ref.kind] and target not in reported[ref.kind]:
            message = _undefined(ref.kind, target, resources[ref.kind])
            undefined.append((ref.kind, target, doc.location((*ref_path, "resource")), message))
    for ref_kind, target, field_name, ref_path in v.label_refs:
        table = resources.get(cast(Kind, ref_kind), {})
        if target not in table and target not in reported.get(ref_kind, ()):
            message = _name_problem(field_name, _undefined(ref_kind, target, table))
            undefined.append((ref_kind, target, doc.location(ref_path), message))
    for _, _, location, message in undefined:
        if resources_elsewhere:
            warnings.append(Problem(location, f"{message}; {ELSEWHERE_HINT}", True))
        else:
            v.report(location, message)

    problems += v.problems
    inp, out = conf.get("input"), conf.get("output")
    if problems or not isinstance(inp, ComponentConfig) or not isinstance(out, ComponentConfig):
        return None, problems + warnings
    pipeline = conf["pipeline"]
    stream = StreamConfig(
        name=name,
        path=file_path,
        input=inp,
        processors=[p for p in pipeline["processors"] if isinstance(p, ComponentConfig)],
        output=out,
        threads=pipeline["threads"],
        resources={k: r for k, r in resources.items() if r},
        http=conf["http"],
        logger=conf["logger"],
        plugins=list(conf["plugins"]),
        tests=list(conf["tests"]),
        license=owned.get("license", {}),
        buffer=service["buffer"],
        metrics=service["metrics"],
        tracer=service["tracer"],
        shutdown_timeout=parse_duration(conf["shutdown_timeout"]),
        shutdown_delay=parse_duration(conf["shutdown_delay"]),
        raw=data,
        sections={name: value for name, value in owned.items() if name in body},
        defined_elsewhere=frozenset((kind, target) for kind, target, _, _ in undefined),
        resources_elsewhere=resources_elsewhere,
    )
    return stream, warnings


def _check_sections(v: _Validator, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate the registered top-level sections (`license:` ...): name -> valid value.

    Every registered name is in the result (empty when the file has no such section or it
    is invalid); beyond the field types, each section's own check reports values it cannot
    use at their key.
    """
    owned: dict[str, dict[str, Any]] = {}
    for name, section in sections().items():
        owned[name] = {}
        if name not in body:
            continue
        before = len(v.problems)
        value = v.value(section.field, body[name], (name,), name, "stream")
        if len(v.problems) > before or not isinstance(value, dict):
            continue
        if section.check is not None:
            try:
                section.check(value, v.base_dir)
            except SectionError as exc:
                path: Path = (name, exc.key) if exc.key else (name,)
                v.at(path, _name_problem(f"{name}.{exc.key}", str(exc)))
                continue
        owned[name] = dict(value)
    return owned


def _raw_label(data: Any, path: Path) -> str | None:
    """The `label` written at `path` in the raw document, if it is a string."""
    node = data
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    label = node.get("label") if isinstance(node, dict) else None
    return label if isinstance(label, str) else None


#: where a resource lint did not find may still come from when the stream runs


def _undefined(kind: str, target: str, defined: dict[str, ComponentConfig]) -> str:
    """`<kind> resource "x" is not defined`, with a did-you-mean or the labels that are."""
    known = sorted(defined)
    hint = _suggest(target, known)
    if hint:
        return f'{kind} resource "{target}" is not defined{hint}'
    if known:
        return f'{kind} resource "{target}" is not defined (known: {", ".join(known)})'
    if kind in _LABEL_ONLY:
        return f'{kind} resource "{target}" is not defined (declare it under {kind}_resources)'
    return f'{kind} resource "{target}" is not defined'


def _name_problem(name: str, problem: str) -> str:
    """`field <name>: <problem>`, unless the problem already starts with the field's name."""
    leaf = name.rsplit(".", 1)[-1]
    if not name or problem.startswith((f"{name}:", f"{leaf}:")):
        return problem
    return f"field {name}: {problem}"
