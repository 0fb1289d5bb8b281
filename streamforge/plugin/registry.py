"""The registry of components, and the decorators that add built-ins and plugins to it.

@register_processor("upper", fields=[Field("field", "string", default="value")])
class Upper(Processor):
    def __init__(self, conf: dict, ctx: BuildContext) -> None: ...
    def process_batch(self, batch): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from streamforge.plugin.spec import KINDS, ComponentSpec, Field, Kind

__all__ = [
    "PluginError",
    "Registry",
    "register",
    "register_cache",
    "register_input",
    "register_output",
    "register_processor",
    "register_rate_limit",
    "registry",
]


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

    def remove(self, kind: Kind, name: str) -> ComponentSpec | None:
        """Forget a component (e.g. a config template being replaced); returns its spec."""
        return self._specs[kind].pop(name, None)

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


def register_rate_limit(
    name: str, fields: Sequence[Field] | None = None, **options: Any
) -> Callable[[T], T]:
    """Register a rate limit type, declared under `rate_limit_resources` (options as for
    `register`)."""
    return register("rate_limit", name, fields, **options)
