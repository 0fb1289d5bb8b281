"""A parsed Thing Description: the Thing, its affordances with their data schemas and resolved
forms, and its security schemes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamforge.wot.forms import binding_of, default_ops, ops_of, resolve_href
from streamforge.wot.problems import TdError, json_path
from streamforge.wot.validation import AFFORDANCE_KINDS, check_td
from streamforge.wot.vocabulary import Terms, prefix_map, split_terms

__all__ = [
    "Affordance",
    "DataSchema",
    "Form",
    "SecurityScheme",
    "ThingDescription",
    "parse_td",
]


@dataclass(frozen=True)
class Form:
    """One form, its href resolved against the TD's base and its protocol terms normalised."""

    href: str
    ops: tuple[str, ...]
    path: str
    written_href: str = ""
    content_type: str = "application/json"
    subprotocol: str | None = None
    security: tuple[str, ...] | None = None
    terms: Terms = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def binding(self) -> str | None:
        """modbus, mqtt, opcua, http or kafka, by the href's scheme."""
        return binding_of(self.href)

    def term(self, vocabulary: str, name: str, default: Any = None) -> Any:
        """A protocol term (`form.term("modbus", "unitID")`) whatever prefix it was written with."""
        return self.terms.get(vocabulary, {}).get(name, default)


@dataclass(frozen=True)
class DataSchema:
    """The data schema terms StreamForge uses: type, unit and range."""

    type: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[Any, ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: Any) -> DataSchema:
        """The schema terms of a data schema object (an empty schema for anything else)."""
        if not isinstance(raw, Mapping):
            return cls()
        minimum = raw.get("minimum", raw.get("exclusiveMinimum"))
        maximum = raw.get("maximum", raw.get("exclusiveMaximum"))
        enum = raw.get("enum")
        return cls(
            type=raw.get("type") if isinstance(raw.get("type"), str) else None,
            unit=raw.get("unit") if isinstance(raw.get("unit"), str) else None,
            minimum=_number(minimum),
            maximum=_number(maximum),
            enum=tuple(enum) if isinstance(enum, list) else None,
            raw=raw,
        )


@dataclass(frozen=True)
class Affordance:
    """A property, event or action of the Thing."""

    name: str
    kind: str
    schema: DataSchema
    forms: tuple[Form, ...] = ()
    title: str = ""
    read_only: bool = False
    write_only: bool = False
    observable: bool = False
    terms: Terms = field(default_factory=dict)

    @property
    def path(self) -> str:
        """JSON path of the affordance, `$.properties.temperature`."""
        return json_path([_KIND_KEYS[self.kind], self.name])

    @property
    def unit(self) -> str | None:
        return self.schema.unit

    @property
    def minimum(self) -> float | None:
        return self.schema.minimum

    @property
    def maximum(self) -> float | None:
        return self.schema.maximum


@dataclass(frozen=True)
class SecurityScheme:
    """An entry of `securityDefinitions`."""

    name: str
    scheme: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    terms: Terms = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A term of the scheme as written (`in`, `name`, `uav:securityMode` ...)."""
        return self.raw.get(key, default)


@dataclass(frozen=True)
class ThingDescription:
    """A Thing Description that passed `check_td`, parsed."""

    title: str
    id: str | None
    base: str | None
    affordances: tuple[Affordance, ...]
    forms: tuple[Form, ...]
    security: tuple[str, ...]
    security_definitions: Mapping[str, SecurityScheme]
    prefixes: Mapping[str, str]
    raw: Mapping[str, Any]

    @property
    def thing_id(self) -> str:
        """The Thing's `id`, else its title: what its readings' `asset_id` is."""
        return self.id or self.title

    def affordance(self, kind: str, name: str) -> Affordance | None:
        """The affordance of this kind (property, event, action) and name, if any."""
        for a in self.affordances:
            if a.kind == kind and a.name == name:
                return a
        return None

    def of_kind(self, kind: str) -> list[Affordance]:
        """Affordances of one kind, in the order the TD lists them."""
        return [a for a in self.affordances if a.kind == kind]


_KIND_KEYS = {kind: key for key, kind in AFFORDANCE_KINDS.items()}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _security(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return None


def _form(
    raw: Mapping[str, Any],
    parts: list[str | int],
    base: str | None,
    prefixes: Mapping[str, str],
    ops: tuple[str, ...],
) -> Form:
    href = str(raw.get("href", ""))
    return Form(
        href=resolve_href(base, href),
        written_href=href,
        ops=ops_of(raw.get("op")) or ops,
        path=json_path(parts),
        content_type=str(raw.get("contentType") or "application/json"),
        subprotocol=raw.get("subprotocol") if isinstance(raw.get("subprotocol"), str) else None,
        security=_security(raw.get("security")),
        terms=split_terms(raw, prefixes),
        raw=raw,
    )


def parse_td(doc: Any) -> ThingDescription:
    """Check and parse a Thing Description (a document, or its JSON text).

    Raises TdError with every problem `check_td` finds.
    """
    from streamforge.wot.validation import load_td_text

    if isinstance(doc, (str, bytes)):
        doc, problems = load_td_text(doc)
        if problems:
            raise TdError(problems)
    problems = check_td(doc)
    if problems:
        raise TdError(problems)
    prefixes = prefix_map(doc.get("@context"))
    base = doc.get("base")
    affordances: list[Affordance] = []
    for key, kind in AFFORDANCE_KINDS.items():
        for name, raw in (doc.get(key) or {}).items():
            read_only = raw.get("readOnly") is True
            write_only = raw.get("writeOnly") is True
            ops = default_ops(kind, read_only=read_only, write_only=write_only)
            schema_raw = raw.get("data") if kind == "event" else raw
            if kind == "action":
                schema_raw = raw.get("output")
            forms = tuple(
                _form(f, [key, name, "forms", i], base, prefixes, ops)
                for i, f in enumerate(raw.get("forms") or [])
            )
            affordances.append(
                Affordance(
                    name=name,
                    kind=kind,
                    schema=DataSchema.of(schema_raw),
                    forms=forms,
                    title=str(raw.get("title") or ""),
                    read_only=read_only,
                    write_only=write_only,
                    observable=raw.get("observable") is True,
                    terms=split_terms(raw, prefixes),
                )
            )
    td_forms = tuple(
        _form(f, ["forms", i], base, prefixes, ()) for i, f in enumerate(doc.get("forms") or [])
    )
    definitions = {
        name: SecurityScheme(
            name=name, scheme=str(s.get("scheme")), raw=s, terms=split_terms(s, prefixes)
        )
        for name, s in (doc.get("securityDefinitions") or {}).items()
    }
    return ThingDescription(
        title=str(doc["title"]),
        id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        base=base,
        affordances=tuple(affordances),
        forms=td_forms,
        security=_security(doc.get("security")) or (),
        security_definitions=definitions,
        prefixes=prefixes,
        raw=doc,
    )
