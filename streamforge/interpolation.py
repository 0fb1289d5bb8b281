"""Interpolated strings: `${! <bloblang query> }` evaluated per message.

`InterpolatedString("out/${! meta(\"kafka_topic\") }.log")` parses every query once;
rendering a static string costs nothing. `${{! ... }}` is the escape for a literal
`${! ... }`. Values render as Benthos renders them: strings and bytes raw, null as
`null`, numbers without a trailing `.0`, timestamps in RFC 3339, structures as JSON.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING, Any

from streamforge.bloblang.errors import ParseError
from streamforge.message import Message, serialise_value
from streamforge.timefmt.gotime import format_rfc3339_nano

if TYPE_CHECKING:
    from streamforge.bloblang import Executor

__all__ = ["InterpolatedString", "has_interpolation", "render_value"]


def has_interpolation(text: str) -> bool:
    """True when `text` contains a `${! }` (or escaped `${{! }}`) segment."""
    return "${!" in text or "${{!" in text


def render_value(value: Any) -> str:
    """A query result as text, the way Benthos interpolates it."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, _dt.datetime):
        return format_rfc3339_nano(value)
    if isinstance(value, (list, dict, tuple)):
        return serialise_value(value).decode("utf-8")
    return "null"  # DELETED / NOTHING


def _query_end(text: str, start: int) -> int:
    """Index of the `}` closing a `${!` query that starts at `start` (-1 if none).

    Braces nest; braces inside string literals (`"..."`, `\"\"\"...\"\"\"`) do not count.
    """
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            if text.startswith('"""', i):
                close = text.find('"""', i + 3)
                if close < 0:
                    return -1
                i = close + 3
                continue
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


class InterpolatedString:
    """A string with `${! }` queries, parsed once and rendered per message."""

    __slots__ = ("text", "_parts", "_static")

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[str | Executor] = self._parse(text)
        self._static: str | None = None
        if all(isinstance(p, str) for p in self._parts):
            self._static = "".join(p for p in self._parts if isinstance(p, str))

    @staticmethod
    def _parse(text: str) -> list[str | Executor]:
        if "${" not in text:
            return [text]
        parts: list[str | Executor] = []
        literal: list[str] = []
        i, n = 0, len(text)
        while i < n:
            j = text.find("${", i)
            if j < 0:
                literal.append(text[i:])
                break
            literal.append(text[i:j])
            if text.startswith("${{!", j):
                close = text.find("}}", j + 4)
                if close < 0:
                    literal.append(text[j:])
                    break
                literal.append("${!" + text[j + 4 : close] + "}")
                i = close + 2
                continue
            if not text.startswith("${!", j):
                literal.append("${")
                i = j + 2
                continue
            q_start = j + 3
            q_end = _query_end(text, q_start)
            if q_end < 0:
                line, col = _position(text, j)
                reason = "unterminated interpolation: expected a closing }"
                raise ParseError(reason, text, line, col)
            query = text[q_start:q_end]
            if not query.strip():
                line, col = _position(text, j)
                raise ParseError("empty interpolation: expected a query", text, line, col)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_compile_query(text, query, q_start))
            i = q_end + 1
        if literal:
            parts.append("".join(literal))
        return [p for p in parts if not (isinstance(p, str) and p == "")] or [""]

    @property
    def is_static(self) -> bool:
        """True when there is nothing to evaluate per message."""
        return self._static is not None

    def render(self, msg: Message, batch: list[Message] | None = None, index: int = 0) -> str:
        """The string for one message; raises bloblang MappingError when a query fails."""
        if self._static is not None:
            return self._static
        parts = self._parts
        if len(parts) == 1:
            return render_value(parts[0].query_message(msg, batch, index))  # type: ignore[union-attr]
        return "".join(
            p if isinstance(p, str) else render_value(p.query_message(msg, batch, index))
            for p in parts
        )

    def render_bytes(
        self, msg: Message, batch: list[Message] | None = None, index: int = 0
    ) -> bytes:
        """`render` encoded as UTF-8."""
        return self.render(msg, batch, index).encode("utf-8")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"InterpolatedString({self.text!r})"


def _compile_query(text: str, query: str, offset: int) -> Executor:
    from streamforge.bloblang import parse_query

    try:
        return parse_query(query)
    except ParseError as exc:
        q_lines = query.split("\n")
        line = min(max(exc.line, 1), len(q_lines))
        inner = sum(len(v) + 1 for v in q_lines[: line - 1]) + max(exc.column, 1) - 1
        abs_line, abs_col = _position(text, offset + inner)
        raise ParseError(exc.reason, text, abs_line, abs_col) from None
