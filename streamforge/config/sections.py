"""Top-level config sections owned by other packages (e.g. `license:`), registered by them.

Config validation knows the sections of a stream (input, pipeline, output, ...); a package
that adds its own top-level section registers its spec and a check here, so `config` does
not import it. The providers below are imported the first time the sections are asked for.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamforge.plugin.spec import Field

__all__ = ["SECTION_PROVIDERS", "Section", "SectionError", "register_section", "sections"]

#: modules that register a top-level section when imported
SECTION_PROVIDERS = ("streamforge.license.section", "streamforge.connectors.redpanda_section")


class SectionError(ValueError):
    """A section's value that cannot be used; `key` names the field at fault ("" for all)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


#: checks a section's value (already valid against its Field) beyond the field types
SectionCheck = Callable[[dict[str, Any], Path | None], None]


@dataclass(frozen=True)
class Section:
    """A top-level section: its spec, and a check that raises SectionError."""

    field: Field
    check: SectionCheck | None = None


_sections: dict[str, Section] = {}
_lock = threading.Lock()
_providers_loaded = False


def register_section(field: Field, check: SectionCheck | None = None) -> None:
    """Add the top-level section `field.name` to stream configs."""
    _sections[field.name] = Section(field, check)


def sections() -> dict[str, Section]:
    """Every registered section by name (importing the built-in providers once)."""
    global _providers_loaded
    if not _providers_loaded:
        with _lock:
            if not _providers_loaded:
                for module in SECTION_PROVIDERS:
                    importlib.import_module(module)
                _providers_loaded = True
    return dict(_sections)
