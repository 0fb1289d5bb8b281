"""Component specs: the fields a component's config takes, and what else is known about it.

A spec is the single source for config validation, `streamforge list`, the JSON Schema of
configs and the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from streamforge.plugin.interfaces import BuildContext

__all__ = [
    "FIELD_TYPES",
    "KINDS",
    "REQUIRED",
    "ComponentSpec",
    "Field",
    "Kind",
    "ParsedField",
    "offline_check",
    "offline_check_of",
    "switch_case_field",
]

F = TypeVar("F")
_OFFLINE_CHECK = "__streamforge_offline_check__"

Kind = Literal["input", "processor", "output", "cache", "rate_limit"]
KINDS: tuple[Kind, ...] = ("input", "processor", "output", "cache", "rate_limit")

# Field types understood by validation and docs.
#   scalar:    string, int, float (any number), bool, duration ("1s", "500ms", "1m30s")
#   bloblang:  mapping (a Bloblang mapping), query (a Bloblang query, e.g. a `check`)
#   nested:    object (fixed `fields`), array (of `item`), map (free-form dict), any
#   component: input, output, processor, cache, rate_limit (one nested component config)
# A string field with `references="cache"` (or "rate_limit") names a resource by its label.
FIELD_TYPES = frozenset(
    {
        "string", "int", "float", "bool", "duration", "mapping", "query",
        "object", "array", "map", "any", "input", "output", "processor", "cache",
        "rate_limit",
    }
)  # fmt: skip


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    """One configuration field of a component (or of a nested object)."""

    name: str
    type: str
    default: Any = REQUIRED
    description: str = ""
    examples: tuple[Any, ...] = ()
    interpolable: bool = False
    options: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    item: Field | None = None
    advanced: bool = False
    #: the value is the label of a resource of this kind (e.g. "cache"); lint checks it exists
    references: str = ""
    #: a credential (password, inline private key, token): hidden wherever configs are shown
    secret: bool = False

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name!r}: unknown type {self.type!r}")
        if isinstance(self.examples, list):
            object.__setattr__(self, "examples", tuple(self.examples))
        if isinstance(self.fields, list):
            object.__setattr__(self, "fields", tuple(self.fields))
        if isinstance(self.options, list):
            object.__setattr__(self, "options", tuple(self.options))

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def child(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (for `list --format json` and docs)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if not self.required:
            out["default"] = self.default
        else:
            out["required"] = True
        if self.description:
            out["description"] = self.description
        if self.examples:
            out["examples"] = list(self.examples)
        if self.interpolable:
            out["interpolable"] = True
        if self.options:
            out["options"] = list(self.options)
        if self.fields:
            out["fields"] = [f.to_dict() for f in self.fields]
        if self.item is not None:
            out["item"] = self.item.to_dict()
        if self.advanced:
            out["advanced"] = True
        if self.references:
            out["references"] = self.references
        if self.secret:
            out["secret"] = True
        return out


@dataclass(frozen=True)
class ComponentSpec:
    """Everything StreamForge knows about a component type.

    `config` describes the value under the component's name in YAML. Usually an object
    with `fields`; some components take a bare value (`mapping: "root = this"`,
    `catch: [processors]`, `fallback: [outputs]`).
    """

    name: str
    kind: Kind
    config: Field
    factory: Callable[[Any, BuildContext], Any]
    summary: str = ""
    description: str = ""
    examples: tuple[str, ...] = ()
    status: str = "stable"
    plugin: str = "builtin"

    @property
    def fields(self) -> tuple[Field, ...]:
        return self.config.fields

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "description": self.description,
            "status": self.status,
            "plugin": self.plugin,
            "config": self.config.to_dict(),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class ParsedField(Field):
    """A field checked by `parser` (the component's own), which raises ValueError when bad.

    E.g. `generate.interval` is a duration that may also be written `@every 5m`.
    """

    parser: Callable[[Any], Any] | None = None


def switch_case_field(*fields: Field, check_examples: tuple[str, ...]) -> Field:
    """One case of a `switch`: a Bloblang `check`, then what runs on a match (`fields`)."""
    return Field(
        "case",
        "object",
        fields=(
            Field(
                "check",
                "query",
                default="",
                description="A Bloblang query returning a bool; empty always passes.",
                examples=check_examples,
            ),
            *fields,
        ),
    )


def offline_check(check: Callable[[Any, BuildContext], object]) -> Callable[[F], F]:
    """Declare `check(conf, ctx)` as every check building the decorated factory makes.

    For components whose building connects or binds (a producer, a client that starts):
    the check refuses what building would, without connecting, binding or writing files,
    and `streamforge lint` calls it instead of building the component.
    """

    def mark(factory: F) -> F:
        setattr(factory, _OFFLINE_CHECK, check)
        return factory

    return mark


def offline_check_of(factory: Any) -> Callable[[Any, BuildContext], object] | None:
    """The check declared with `offline_check` for this factory, if any."""
    check = getattr(factory, _OFFLINE_CHECK, None)
    return check if callable(check) else None
