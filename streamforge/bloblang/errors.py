"""Bloblang errors: `ParseError` for bad mappings, `MappingError` for run-time failures."""

from __future__ import annotations

from typing import Any

from streamforge.errors import MappingError

__all__ = [
    "MappingError",
    "ParseError",
    "describe",
    "type_error",
    "type_error_text",
    "type_name",
]


class ParseError(Exception):
    """A mapping failed to parse. `line` and `column` are 1-based.

    The message quotes the offending line with a caret under the column.
    """

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        self.reason = message
        self.text = text
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        lines = self.text.splitlines() or [""]
        src = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        caret = " " * max(self.column - 1, 0) + "^"
        return f"line {self.line} char {self.column}: {self.reason}\n  {src}\n  {caret}"


def type_name(value: Any) -> str:
    """Benthos' name for the type of a value."""
    from datetime import datetime

    from streamforge.bloblang.registry import DELETED, NOTHING

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, datetime):
        return "timestamp"
    if value is DELETED:
        return "delete"
    if value is NOTHING:
        return "nothing"
    return "unknown"


def describe(value: Any) -> str:
    """A short rendering of a value for error messages, as Benthos does: string ("foo")."""
    import json

    t = type_name(value)
    if t in ("null", "delete", "nothing"):
        return t
    try:
        if isinstance(value, (bytes, bytearray)):
            shown = json.dumps(bytes(value).decode("utf-8", "replace"))
        elif t == "timestamp":
            from streamforge.timefmt.gotime import format_rfc3339_nano

            shown = json.dumps(format_rfc3339_nano(value))
        else:
            shown = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{t} ({shown})" if t in ("string", "bytes", "timestamp") else f"{t} ({shown})"


def _shown_value(value: Any) -> str:
    """The value Benthos quotes in a type error: strings, numbers and bools only."""
    t = type_name(value)
    if t not in ("string", "number", "bool"):
        return ""
    return describe(value)[len(t) + 2 : -1]


def type_error_text(expected: str, value: Any, source: str = "") -> str:
    """Benthos' type error: `expected number value, got string from field `this.a` ("x")`."""
    shown = _shown_value(value)
    origin = f" from {source}" if source else ""
    return f"expected {expected} value, got {type_name(value)}{origin}" + (
        f" ({shown})" if shown else ""
    )


def type_error(expected: str, value: Any) -> MappingError:
    """`expected number value, got string ("foo")`; the query that gave the value is added
    (`got string from field `this.a` ("foo")`) when the error leaves a method."""
    err = MappingError(type_error_text(expected, value))
    err.type_error = (expected, value)  # type: ignore[attr-defined]
    return err
