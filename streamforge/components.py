"""Component specs, the registry, base classes for inputs/processors/outputs/caches, plugins.

A component's spec is the single source for config validation, `streamforge list`, the
JSON Schema of configs and the docs. Built-ins and plugins register the same way:

    @register_processor("upper", fields=[Field("field", "string", default="value")])
    class Upper(Processor):
        def __init__(self, conf: dict, ctx: BuildContext) -> None: ...
        def process_batch(self, batch): ...
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from streamforge.message import Message

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = [
    "REQUIRED",
    "BuildContext",
    "Cache",
    "CacheError",
    "ComponentSpec",
    "Field",
    "Input",
    "InputReader",
    "Kind",
    "Output",
    "Processor",
    "PluginError",
    "Registry",
    "registry",
    "register",
    "register_cache",
    "register_input",
    "register_output",
    "register_processor",
    "load_builtins",
    "load_plugins",
]

Kind = Literal["input", "processor", "output", "cache"]
KINDS: tuple[Kind, ...] = ("input", "processor", "output", "cache")

# Field types understood by validation and docs.
#   scalar:    string, int, float (any number), bool, duration ("1s", "500ms", "1m30s")
#   bloblang:  mapping (a Bloblang mapping), query (a Bloblang query, e.g. a `check`)
#   nested:    object (fixed `fields`), array (of `item`), map (free-form dict), any
#   component: input, output, processor, cache (one nested component config)
# A string field with `references="cache"` names a cache resource by its label.
FIELD_TYPES = frozenset(
    {
        "string", "int", "float", "bool", "duration", "mapping", "query",
        "object", "array", "map", "any", "input", "output", "processor", "cache",
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


class PluginError(Exception):
    """A plugin or component could not be loaded or registered."""


class Registry:
    """All known components, by kind and name."""

    def __init__(self) -> None:
        self._specs: dict[Kind, dict[str, ComponentSpec]] = {k: {} for k in KINDS}

    def add(self, spec: ComponentSpec, *, replace: bool = False) -> None:
        table = self._specs[spec.kind]
        if spec.name in table and not replace and table[spec.name].factory is not spec.factory:
            raise PluginError(f"{spec.kind} {spec.name!r} is already registered")
        table[spec.name] = spec

    def get(self, kind: Kind, name: str) -> ComponentSpec | None:
        return self._specs[kind].get(name)

    def names(self, kind: Kind) -> list[str]:
        return sorted(self._specs[kind])

    def specs(self, kind: Kind) -> list[ComponentSpec]:
        return [self._specs[kind][n] for n in self.names(kind)]


registry = Registry()

T = TypeVar("T")


def register(
    kind: Kind,
    name: str,
    fields: Sequence[Field] | None = None,
    *,
    config: Field | None = None,
    summary: str = "",
    description: str = "",
    examples: Sequence[str] = (),
    status: str = "stable",
) -> Callable[[T], T]:
    """Register a component of `kind`; the decorated callable is called as `factory(conf, ctx)`.

    `fields` describe an object config; `config` replaces them for components whose YAML
    value is not an object. `summary` defaults to the first line of the factory's docstring.
    """
    if config is None:
        config = Field(name, "object", default={}, fields=tuple(fields or ()))
    spec_config = config

    def decorate(factory: T) -> T:
        doc = (getattr(factory, "__doc__", None) or "").strip()
        registry.add(
            ComponentSpec(
                name=name,
                kind=kind,
                config=spec_config,
                factory=factory,  # type: ignore[arg-type]
                summary=summary or (doc.splitlines()[0] if doc else ""),
                description=description,
                examples=tuple(examples),
                status=status,
                plugin=getattr(factory, "__module__", "builtin"),
            )
        )
        return factory

    return decorate


def register_input(
    name: str, fields: Sequence[Field] | None = None, **options: Any
) -> Callable[[T], T]:
    """Register an input (options as for `register`)."""
    return register("input", name, fields, **options)


def register_processor(
    name: str, fields: Sequence[Field] | None = None, **options: Any
) -> Callable[[T], T]:
    """Register a processor (options as for `register`)."""
    return register("processor", name, fields, **options)


def register_output(
    name: str, fields: Sequence[Field] | None = None, **options: Any
) -> Callable[[T], T]:
    """Register an output (options as for `register`)."""
    return register("output", name, fields, **options)


def register_cache(
    name: str, fields: Sequence[Field] | None = None, **options: Any
) -> Callable[[T], T]:
    """Register a cache type, declared under `cache_resources` (options as for `register`)."""
    return register("cache", name, fields, **options)


# -- runtime interfaces ---------------------------------------------------------------------


class BuildContext(Protocol):
    """What a component factory may ask of the stream being built."""

    stream: str  # stream name (namespace of step ids and metric labels)
    label: str  # this component's label (explicit `label:` or a generated path label)
    path: str  # config path of this component, e.g. "pipeline.processors.2"

    def build_processors(self, confs: list[ComponentConfig]) -> list[Processor]:
        """Build nested processors (for switch, try, catch, branch ...)."""
        ...

    def build_output(self, conf: ComponentConfig) -> Output:
        """Build a nested output (for switch, broker, fallback ...)."""
        ...

    def build_input(self, conf: ComponentConfig) -> Input:
        """Build a nested input."""
        ...

    def cache(self, label: str) -> Cache:
        """The stream's cache resource `label`: one instance shared by every worker."""
        ...


class Processor(ABC):
    """Transforms batches. Failing messages get `error` set; nothing raises through."""

    #: stateful processors are keyed and compiled to Bytewax stateful operators
    stateful: bool = False
    #: error handlers (`catch`) also receive messages flagged with an error; other
    #: processors only see healthy messages (errored ones pass them by untouched)
    handles_errors: bool = False

    @abstractmethod
    def process_batch(self, batch: list[Message]) -> list[Message]:
        """Return the resulting batch (may drop, split or expand messages)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources when the stream stops."""


class InputReader(ABC):
    """Reads one partition of an input."""

    @abstractmethod
    def read(self) -> list[Message] | None:
        """Next batch: a list (possibly empty when nothing is ready) or None at the end."""

    def next_awake(self) -> datetime | None:
        """When to call `read` next (UTC); None means as soon as possible."""
        return None

    def snapshot(self) -> Any:
        """Resume state for recovery (e.g. offset); None when not resumable."""
        return None

    def ack(self, batch: list[Message], error: str | None) -> None:  # noqa: B027 - optional
        """The stream is done with a batch `read` returned (override to acknowledge to a peer).

        Called once per batch, from the worker thread or the output's acknowledgement timer
        (lock accordingly), after every message derived from it was written (`error` None) or
        when writing failed (`error` says why). Readers that do not override it cost nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class Input(ABC):
    """An input: a set of partitions, each read by exactly one worker."""

    def partitions(self) -> list[str]:
        """Stable partition keys; Bytewax spreads them over workers and processes."""
        return ["0"]

    @abstractmethod
    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        """Open one partition, resuming from a recovery snapshot when given."""


class Output(ABC):
    """An output; one instance per worker."""

    @abstractmethod
    def write_batch(self, batch: list[Message]) -> list[Message]:
        """Write a batch; return the messages that could not be written (error set)."""

    def flush(self) -> list[Message]:
        """Write anything buffered; return failures. Called on period timers and close."""
        return []

    def buffered(self) -> int:
        """Messages accepted but not written yet (held by a batching policy)."""
        return 0

    def take_failures(self) -> list[Message]:
        """Messages that writes made on the output's own (a batching period) failed since asked."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""


class CacheError(Exception):
    """A cache could not do what was asked (e.g. its server is unreachable)."""


class Cache(ABC):
    """A key/value store that components share through `cache_resources`.

    One instance serves every worker of a process, so implementations are thread-safe.
    `ttl` is in seconds; None means the cache's default. Failures raise CacheError.
    """

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value of `key`, or None when it is absent or expired."""

    @abstractmethod
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value` under `key`, replacing any value."""

    @abstractmethod
    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store `value` only if `key` is absent (or expired), atomically; True if stored."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key` (nothing happens when it is absent)."""

    def add_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None = None) -> list[bool]:
        """`add` for each item in order (a key repeated in `items` is stored once).

        Caches override it to do a whole batch in one round trip or one clock reading.
        """
        return [self.add(key, value, ttl) for key, value in items]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and memory when the stream stops."""


# -- loading ---------------------------------------------------------------------------------

_BUILTIN_MODULES = (
    "streamforge.inputs",
    "streamforge.processors",
    "streamforge.outputs",
    "streamforge.caches",
)
_builtins_loaded = False
_entry_points_loaded = False


def load_builtins() -> None:
    """Import every built-in component module (each registers itself), and entry points."""
    global _builtins_loaded, _entry_points_loaded
    if not _builtins_loaded:
        import pkgutil

        for pkg_name in _BUILTIN_MODULES:
            pkg = importlib.import_module(pkg_name)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg_name}.{info.name}")
        _builtins_loaded = True
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_entry_points()


def load_entry_points(group: str = "streamforge.plugins") -> None:
    """Load third-party plugins advertised under the `streamforge.plugins` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - report which plugin failed
            raise PluginError(f"plugin entry point {ep.name!r} ({ep.value}) failed: {exc}") from exc
        if callable(obj) and not isinstance(obj, type):
            obj()


def load_plugins(refs: Sequence[str], base_dir: Path | None = None) -> None:
    """Load plugins given as Python file paths or importable module names."""
    for ref in refs:
        path = Path(ref)
        if base_dir is not None and not path.is_absolute():
            candidate = base_dir / path
            if candidate.exists():
                path = candidate
        if ref.endswith(".py") or path.exists():
            if not path.exists():
                raise PluginError(f"plugin file {ref!r} does not exist")
            mod_name = f"streamforge_plugin_{abs(hash(str(path.resolve())))}"
            if mod_name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise PluginError(f"cannot load plugin file {ref!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise PluginError(f"plugin file {ref!r} failed to load: {exc}") from exc
        else:
            try:
                importlib.import_module(ref)
            except ImportError as exc:
                raise PluginError(f"plugin module {ref!r} cannot be imported: {exc}") from exc
