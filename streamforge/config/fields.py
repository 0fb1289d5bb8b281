"""Field kinds whose values the component itself parses, so lint accepts exactly that."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamforge.components import Field

__all__ = ["ParsedField"]


@dataclass(frozen=True)
class ParsedField(Field):
    """A field checked by `parser` (the component's own), which raises ValueError when bad.

    E.g. `generate.interval` is a duration that may also be written `@every 5m`.
    """

    parser: Callable[[Any], Any] | None = None
