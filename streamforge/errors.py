"""The run-time error every layer raises and catches: a mapping or a time conversion failed.

Bloblang raises it for a failing expression; the Go time layouts raise it with Go's wording,
so a failing `ts_parse` reads the same inside a mapping and in a processor.
"""

from __future__ import annotations

__all__ = ["MappingError"]


class MappingError(Exception):
    """A mapping failed while running: which expression failed and why."""

    def __init__(self, message: str, expression: str | None = None) -> None:
        self.reason = message
        self.expression = expression
        super().__init__(f"failed assignment ({expression}): {message}" if expression else message)
