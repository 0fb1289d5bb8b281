"""Iceberg partition specs in Redpanda's string form: `(day(ts), bucket(4, asset), line)`.

A spec is a parenthesised, comma-separated list of terms. A term is a column (identity) or a
transform of one: `identity(c)`, `year(c)`, `month(c)`, `day(c)`, `hour(c)`, `void(c)`,
`bucket(N, c)`, `truncate(W, c)`. A column is a dotted path into nested structs
(`nested.col`), or a name in backticks taken whole (`` `name.with.dots` ``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PartitionSpecError", "PartitionTerm", "parse_partition_spec"]

_TIME = ("year", "month", "day", "hour")
_ONE_ARG = ("identity", "void", *_TIME)
_WITH_NUMBER = ("bucket", "truncate")

_TOKEN = re.compile(r"\s*(?:(?P<quoted>`[^`]*`)|(?P<word>[A-Za-z0-9_.\-]+)|(?P<punct>[(),]))")


class PartitionSpecError(ValueError):
    """A partition spec that cannot be read; the message says where and why."""


@dataclass(frozen=True)
class PartitionTerm:
    """One partition field: the transform, its number (bucket count, width), the column."""

    transform: str
    column: str
    number: int | None = None


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) per token: kind is quoted, word or punct."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            at = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise PartitionSpecError(f"unexpected {text[at]!r} at column {at + 1} of {text!r}")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        out.append((kind, value, match.start(kind)))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            want = f" {expected!r}" if expected else ""
            raise PartitionSpecError(f"{self.text!r} ends early: expected{want or ' more'}")
        if expected is not None and token[1] != expected:
            raise PartitionSpecError(
                f"expected {expected!r} at column {token[2] + 1} of {self.text!r}, got {token[1]!r}"
            )
        self.at += 1
        return token

    def column(self) -> str:
        kind, value, offset = self.take()
        if kind == "quoted":
            name = value[1:-1]
        elif kind == "word":
            name = value
        else:
            raise PartitionSpecError(
                f"expected a column at column {offset + 1} of {self.text!r}, got {value!r}"
            )
        if not name:
            raise PartitionSpecError(f"empty column name at column {offset + 1} of {self.text!r}")
        return name

    def term(self) -> PartitionTerm:
        kind, value, offset = self.take()
        following = self.peek()
        if kind == "quoted" or following is None or following[1] != "(":
            self.at -= 1
            return PartitionTerm("identity", self.column())
        name = value.lower()
        if name not in _ONE_ARG and name not in _WITH_NUMBER:
            known = ", ".join((*_ONE_ARG, *_WITH_NUMBER))
            raise PartitionSpecError(
                f"unknown transform {value!r} at column {offset + 1} of {self.text!r} "
                f"(known: {known})"
            )
        self.take("(")
        number: int | None = None
        if name in _WITH_NUMBER:
            _kind, digits, at = self.take()
            if not digits.isdigit() or int(digits) <= 0:
                raise PartitionSpecError(
                    f"{name} needs a positive whole number first, got {digits!r} at column "
                    f"{at + 1} of {self.text!r}"
                )
            number = int(digits)
            self.take(",")
        column = self.column()
        self.take(")")
        return PartitionTerm(name, column, number)


def parse_partition_spec(text: str) -> list[PartitionTerm]:
    """The terms of a partition spec; `()` (or empty) is no partitioning."""
    text = text.strip()
    if not text:
        return []
    reader = _Reader(text)
    reader.take("(")
    terms: list[PartitionTerm] = []
    token = reader.peek()
    if token is not None and token[1] == ")":
        reader.take(")")
    else:
        while True:
            terms.append(reader.term())
            kind, value, offset = reader.take()
            if value == ")":
                break
            if value != ",":
                raise PartitionSpecError(
                    f"expected ',' or ')' at column {offset + 1} of {text!r}, got {value!r}"
                )
    rest = reader.peek()
    if rest is not None:
        raise PartitionSpecError(f"unexpected {rest[1]!r} after the spec in {text!r}")
    return terms


def to_transform(term: PartitionTerm) -> object:
    """The pyiceberg transform of a term."""
    from pyiceberg import transforms as t

    simple = {
        "identity": t.IdentityTransform,
        "void": t.VoidTransform,
        "year": t.YearTransform,
        "month": t.MonthTransform,
        "day": t.DayTransform,
        "hour": t.HourTransform,
    }
    if term.transform == "bucket":
        return t.BucketTransform(term.number or 1)
    if term.transform == "truncate":
        return t.TruncateTransform(term.number or 1)
    return simple[term.transform]()
