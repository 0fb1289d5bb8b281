"""Libraries that only some components need, installed with an extra of the distribution."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtra", "require"]


class MissingExtra(ValueError):
    """A component's library is not installed; the message says which extra brings it (a
    config problem: the stream cannot be built here)."""


def require(module: str, extra: str, component: str) -> ModuleType:
    """Import `module`, or raise MissingExtra naming `pip install 'streamforge[extra]'`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{component} needs the Python package {module.split('.')[0]!r}: "
            f"pip install 'streamforge[{extra}]'"
        ) from None
