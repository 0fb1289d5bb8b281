"""The validated, normalised form of a stream config that the compiler builds from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamforge.plugin import Kind

__all__ = ["ComponentConfig", "ConfigError", "Location", "Problem", "StreamConfig"]


#: what a warning of a resource defined in no file lint was given adds
ELSEWHERE_HINT = "`run` needs it in this file or in a resource file given with -r"


@dataclass(frozen=True)
class Location:
    """A place in a config file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One config problem, printed as `file:line:col: message`.

    A warning (`file:line:col: warning: message`) does not stop `lint` from passing: it is
    what only `run` can decide, such as a resource defined in a file lint was not given.
    """

    location: Location
    message: str
    warning: bool = False

    def __str__(self) -> str:
        if self.warning:
            return f"{self.location}: warning: {self.message}"
        return f"{self.location}: {self.message}"


class ConfigError(Exception):
    """A config has problems; nothing may start. Carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class ComponentConfig:
    """One component in a stream: `type` is the registered name (or "resource").

    Caches (kind "cache") exist only under `cache_resources`, and rate limits (kind
    "rate_limit") only under `rate_limit_resources`, always with a label.

    `conf` is the value under the type key, validated, with defaults filled in; nested
    component fields (type input/output/processor in the spec) hold ComponentConfig
    objects (or lists of them). `processors` are the input- or output-level processors.
    """

    kind: Kind
    type: str
    conf: Any
    path: str
    location: Location
    label: str | None = None
    processors: list[ComponentConfig] = field(default_factory=list)

    @property
    def display_label(self) -> str:
        """The label used in metrics and logs: explicit label or the config path."""
        return self.label or self.path


@dataclass
class StreamConfig:
    """One stream file, validated."""

    name: str
    path: Path
    input: ComponentConfig
    processors: list[ComponentConfig]
    output: ComponentConfig
    threads: int = -1
    resources: dict[Kind, dict[str, ComponentConfig]] = field(default_factory=dict)
    http: dict[str, Any] = field(
        default_factory=lambda: {"enabled": True, "address": "0.0.0.0:4195"}
    )
    logger: dict[str, Any] = field(default_factory=lambda: {"level": "INFO", "format": "logfmt"})
    plugins: list[str] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    #: the `license:` section with defaults filled in; empty when the file has none
    license: dict[str, Any] = field(default_factory=dict)
    #: `buffer`, `metrics`, `tracer`: {"type": ..., "conf": {...}} (metrics also "mapping")
    buffer: dict[str, Any] = field(default_factory=lambda: {"type": "none", "conf": {}})
    metrics: dict[str, Any] = field(
        default_factory=lambda: {"type": "prometheus", "conf": {}, "mapping": ""}
    )
    tracer: dict[str, Any] = field(default_factory=lambda: {"type": "none", "conf": {}})
    #: seconds a stop may take before it aborts, and to wait (not ready) before stopping
    shutdown_timeout: float = 20.0
    shutdown_delay: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)
    #: registered top-level sections the file has (`license`, `redpanda` ...), defaults filled in
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (kind, label) of resources referenced but defined in no file lint was given: lint
    #: warns and checks the rest (as Benthos' lint, file by file); `run` refuses them
    defined_elsewhere: frozenset[tuple[str, str]] = frozenset()
    #: linted file by file: a resource a component names but no file given defines is a warning
    resources_elsewhere: bool = False

    @property
    def caches(self) -> dict[str, ComponentConfig]:
        """The `cache_resources`, by label."""
        return self.resources.get("cache", {})

    @property
    def rate_limits(self) -> dict[str, ComponentConfig]:
        """The `rate_limit_resources`, by label."""
        return self.resources.get("rate_limit", {})
