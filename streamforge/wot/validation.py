"""Check a Thing Description: the TD 1.1 JSON Schema, then what a schema cannot say.

`check_td` returns every problem at the JSON path of the term it is about, e.g.
`$.properties.temperature.forms[0].href: relative href "temp" needs a base`.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from streamforge.wot.forms import TD_LEVEL_OPS, default_ops, is_absolute, ops_of, resolve_href
from streamforge.wot.problems import TdProblem, json_path

__all__ = ["AFFORDANCE_KINDS", "check_td", "load_td_text", "td_schema"]

#: the affordance maps of a TD and the kind of affordance each holds
AFFORDANCE_KINDS = {"properties": "property", "actions": "action", "events": "event"}

#: TD-level terms, for a did-you-mean on misspelled keys
TOP_LEVEL_TERMS = (
    "@context", "@type", "id", "title", "titles", "description", "descriptions", "version",
    "created", "modified", "support", "base", "properties", "actions", "events", "links",
    "forms", "security", "securityDefinitions", "profile", "schemaDefinitions", "uriVariables",
)  # fmt: skip
AFFORDANCE_TERMS = (
    "@type", "title", "titles", "description", "descriptions", "forms", "uriVariables",
    "observable", "readOnly", "writeOnly", "input", "output", "safe", "idempotent",
    "synchronous", "subscription", "data", "dataResponse", "cancellation", "type", "unit",
    "minimum", "maximum", "enum", "const", "default", "properties", "items", "format",
)  # fmt: skip
FORM_TERMS = (
    "href", "op", "contentType", "contentCoding", "subprotocol", "security", "scopes",
    "response", "additionalResponses",
)  # fmt: skip

_WHY_REQUIRED = {
    "@context": "every Thing Description names the TD context",
    "title": "every Thing Description has a title",
    "security": 'name the security schemes that apply (e.g. "nosec_sc")',
    "securityDefinitions": 'define the security schemes, e.g. {"nosec_sc": {"scheme": "nosec"}}',
    "href": "a form needs the target of the operation",
    "scheme": 'e.g. "nosec", "basic" or "bearer"',
    "op": "a Thing-level form names its operation (e.g. readallproperties)",
}


@functools.cache
def td_schema() -> dict[str, Any]:
    """The TD 1.1 JSON Schema StreamForge checks with (package data)."""
    text = (
        importlib.resources.files("streamforge.wot")
        .joinpath("schema/td-1.1.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(td_schema())


def load_td_text(text: str | bytes) -> tuple[Any, list[TdProblem]]:
    """Parse TD JSON text: the document, or one problem at `$` with the line and column."""
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            TdProblem("$", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        ]
    except UnicodeDecodeError as exc:
        return None, [TdProblem("$", f"not UTF-8 text: {exc.reason}")]


def check_td(doc: Any) -> list[TdProblem]:
    """Every problem of a Thing Description (a parsed document, or its JSON text)."""
    if isinstance(doc, (str, bytes, bytearray)):
        doc, problems = load_td_text(bytes(doc) if isinstance(doc, bytearray) else doc)
        if problems:
            return problems
    if not isinstance(doc, Mapping):
        return [TdProblem("$", f"a Thing Description is a JSON object, not {_json_type(doc)}")]
    problems = list(_schema_problems(doc))
    problems.extend(_misspelled(doc))
    problems.extend(_base_and_hrefs(doc))
    problems.extend(_affordances_have_forms(doc))
    problems.extend(_security_names(doc))
    return sorted(set(problems), key=lambda p: (p.path, p.message))


# -- the schema ------------------------------------------------------------------------------


def _schema_problems(doc: Mapping[str, Any]) -> Iterator[TdProblem]:
    for error in _validator().iter_errors(doc):
        if error.validator == "required":
            for missing in error.validator_value:
                if missing not in error.instance:
                    why = _WHY_REQUIRED.get(missing, "")
                    at = json_path([*error.absolute_path, missing])
                    yield TdProblem(at, "missing" + (f": {why}" if why else ""))
            continue
        yield _problem(error)


def _problem(error: ValidationError) -> TdProblem:
    if error.validator in ("anyOf", "oneOf") and error.context:
        deepest = best_match(error.context)
        if deepest is not None and len(deepest.absolute_path) > len(error.absolute_path):
            return _problem(deepest)
        enums = [e for e in error.context if e.validator == "enum" and e.instance == error.instance]
        if enums:
            return _problem(enums[0])
    parts = list(error.absolute_path)
    value = error.instance
    validator = error.validator
    if validator == "required":
        missing = next((k for k in error.validator_value if k not in value), "?")
        why = _WHY_REQUIRED.get(missing, "")
        return TdProblem(json_path([*parts, missing]), "missing" + (f": {why}" if why else ""))
    where = json_path(parts)
    if validator == "type":
        expected = error.validator_value
        return TdProblem(where, f"must be {_article(expected)}, not {_json_type(value)}")
    if validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return TdProblem(where, f"{json.dumps(value)} is not one of {allowed}")
    if validator == "minItems":
        return TdProblem(where, f"must have at least {error.validator_value} item(s)")
    if validator == "minProperties":
        return TdProblem(where, f"must define at least {error.validator_value} entry")
    if validator == "contains" and parts == ["@context"]:
        return TdProblem(where, 'must include the TD context "https://www.w3.org/2019/wot/td/v1"')
    if validator == "oneOf" and isinstance(value, Mapping) and value.get("scheme") == "combo":
        return TdProblem(where, "a combo scheme needs either `oneOf` or `allOf`: scheme names")
    if validator in ("anyOf", "oneOf") and parts and parts[-1] == "@context":
        return TdProblem(
            where,
            'must be the TD context "https://www.w3.org/2019/wot/td/v1", or an array that '
            "starts with it",
        )
    if validator == "pattern" and parts and parts[-1] == "scheme":
        return TdProblem(where, f"{json.dumps(value)} is no security scheme")
    return TdProblem(where, error.message)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _article(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(_article(e) for e in expected)
    return ("an " if str(expected)[:1] in "aeiou" else "a ") + str(expected)


# -- misspelled keys -------------------------------------------------------------------------


def _suggest(key: str, known: tuple[str, ...]) -> str | None:
    if key in known or ":" in key:
        return None
    lowered = {k.lower(): k for k in known}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return close[0] if close else None


def _misspelled(doc: Mapping[str, Any]) -> Iterator[TdProblem]:
    for key in doc:
        hint = _suggest(str(key), TOP_LEVEL_TERMS)
        if hint is not None:
            yield TdProblem(json_path([str(key)]), f'unknown term, did you mean "{hint}"?')
    for kind_key, name, affordance in _affordances(doc):
        for key in affordance:
            hint = _suggest(str(key), AFFORDANCE_TERMS)
            if hint is not None:
                yield TdProblem(
                    json_path([kind_key, name, str(key)]), f'unknown term, did you mean "{hint}"?'
                )
        for i, form in _forms(affordance):
            for key in form:
                hint = _suggest(str(key), FORM_TERMS)
                if hint is not None:
                    yield TdProblem(
                        json_path([kind_key, name, "forms", i, str(key)]),
                        f'unknown term, did you mean "{hint}"?',
                    )


# -- base and hrefs --------------------------------------------------------------------------


def _affordances(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for kind_key in AFFORDANCE_KINDS:
        entries = doc.get(kind_key)
        if not isinstance(entries, Mapping):
            continue
        for name, affordance in entries.items():
            if isinstance(affordance, Mapping):
                yield kind_key, str(name), affordance


def _forms(holder: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    forms = holder.get("forms")
    if isinstance(forms, list):
        for i, form in enumerate(forms):
            if isinstance(form, Mapping):
                yield i, form


def _all_forms(doc: Mapping[str, Any]) -> Iterator[tuple[list[str | int], Mapping[str, Any]]]:
    for i, form in _forms(doc):
        yield ["forms", i], form
    for kind_key, name, affordance in _affordances(doc):
        for i, form in _forms(affordance):
            yield [kind_key, name, "forms", i], form


def _uri_problem(text: str) -> str | None:
    if any(c.isspace() for c in text):
        return "contains white space"
    return None


def _base_and_hrefs(doc: Mapping[str, Any]) -> Iterator[TdProblem]:
    base = doc.get("base")
    base_ok = False
    if isinstance(base, str):
        why = _uri_problem(base)
        if why is None and not is_absolute(base):
            why = "is not an absolute URI (it needs a scheme, e.g. mqtt://broker:1883/)"
        if why is not None:
            yield TdProblem("$.base", f"{json.dumps(base)} {why}")
        else:
            base_ok = True
    for parts, form in _all_forms(doc):
        href = form.get("href")
        if not isinstance(href, str):
            continue
        where = json_path([*parts, "href"])
        why = _uri_problem(href)
        if why is not None:
            yield TdProblem(where, f"{json.dumps(href)} {why}")
            continue
        if is_absolute(href):
            continue
        if base is None:
            yield TdProblem(
                where, f"relative href {json.dumps(href)} needs a base: give the TD a `base`"
            )
        elif base_ok and not is_absolute(resolve_href(base, href)):
            yield TdProblem(where, f"{json.dumps(href)} does not resolve against the base")


# -- forms of every affordance ---------------------------------------------------------------


def _affordances_have_forms(doc: Mapping[str, Any]) -> Iterator[TdProblem]:
    td_ops = {op for _, form in _forms(doc) for op in ops_of(form.get("op"))}
    for kind_key, name, affordance in _affordances(doc):
        if "forms" in affordance:
            continue  # its forms are checked by the schema (an array of at least one)
        kind = AFFORDANCE_KINDS[kind_key]
        ops = default_ops(
            kind,
            read_only=affordance.get("readOnly") is True,
            write_only=affordance.get("writeOnly") is True,
        )
        if kind == "property" and affordance.get("observable") is True:
            ops = (*ops, "observeproperty")
        reachable = {level for op in ops for level in TD_LEVEL_OPS.get(op, ())}
        if td_ops & reachable:
            continue
        via = ", ".join(sorted(reachable)) or "none serve actions"
        yield TdProblem(
            json_path([kind_key, name, "forms"]),
            f"the {kind} has no forms, and no Thing-level form reaches it ({via})",
        )


# -- security names --------------------------------------------------------------------------


def _names(value: Any) -> list[tuple[int | None, Any]]:
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return list(enumerate(value))
    return []


def _security_names(doc: Mapping[str, Any]) -> Iterator[TdProblem]:
    definitions = doc.get("securityDefinitions")
    defined = set(definitions) if isinstance(definitions, Mapping) else set()

    def check(parts: list[str | int], value: Any) -> Iterator[TdProblem]:
        for i, name in _names(value):
            if not isinstance(name, str) or name in defined:
                continue
            at = parts if i is None else [*parts, i]
            close = difflib.get_close_matches(name, sorted(defined), n=1, cutoff=0.6)
            hint = f', did you mean "{close[0]}"?' if close else ""
            known = ", ".join(sorted(defined)) or "none"
            yield TdProblem(
                json_path(at),
                f'security scheme "{name}" is not defined in securityDefinitions '
                f"(defined: {known}){hint}",
            )

    yield from check(["security"], doc.get("security"))
    for parts, form in _all_forms(doc):
        if "security" in form:
            yield from check([*parts, "security"], form.get("security"))
    if isinstance(definitions, Mapping):
        for name, scheme in definitions.items():
            if isinstance(scheme, Mapping) and scheme.get("scheme") == "combo":
                for key in ("oneOf", "allOf"):
                    if key in scheme:
                        yield from check(["securityDefinitions", str(name), key], scheme[key])
