"""Bloblang lexer: turns mapping text into a list of tokens with their offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamforge.bloblang.errors import ParseError

__all__ = ["Token", "tokenize", "line_col"]

#: token kinds
NUM, STR, RAW, IDENT, VAR, META, OP, NL, EOF = (
    "number", "string", "raw string", "identifier", "variable", "metadata", "operator",
    "line break", "end of input",
)  # fmt: skip

_OPERATORS = (
    "->", "=>", "==", "!=", ">=", "<=", "&&", "||",
    "+", "-", "*", "/", "%", "<", ">", "!", "|", "=", ".", ",", ":", "(", ")", "[", "]", "{", "}",
)  # fmt: skip

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPACE = re.compile(r"[ \t\r]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}


@dataclass(frozen=True)
class Token:
    kind: str
    value: Any
    pos: int

    def describe(self) -> str:
        if self.kind in (NL, EOF):
            return self.kind
        if self.kind == OP:
            return f"'{self.value}'"
        return f"{self.kind} {self.value!r}" if self.kind != STR else f'string "{self.value}"'


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of an offset."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def error_at(text: str, pos: int, message: str) -> ParseError:
    line, col = line_col(text, pos)
    return ParseError(message, text, line, col)


def _read_string(text: str, pos: int) -> tuple[str, int]:
    """Read a double-quoted string starting at `pos` (the quote); returns (value, end)."""
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            break
        if c == "\\":
            if i + 1 >= n:
                break
            e = text[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) == 4 and all(d in "0123456789abcdefABCDEF" for d in digits):
                    out.append(chr(int(digits, 16)))
                    i += 6
                    continue
            raise error_at(text, i, f"invalid escape sequence '\\{e}' in string literal")
        out.append(c)
        i += 1
    raise error_at(text, pos, "required: closing quote of string literal")


def tokenize(text: str) -> list[Token]:
    """Split mapping text into tokens; comments are dropped, line breaks kept."""
    tokens: list[Token] = []
    append = tokens.append
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r":
            m = _SPACE.match(text, i)
            assert m is not None
            i = m.end()
            continue
        if c == "\n":
            append(Token(NL, None, i))
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        after_dot = bool(tokens) and tokens[-1].kind == OP and tokens[-1].value == "."
        if after_dot and (c.isascii() and (c.isalnum() or c == "_")):
            m = _SEGMENT.match(text, i)
            assert m is not None
            word = m.group()
            if word.isdigit():
                append(Token(NUM, int(word), i))
            else:
                append(Token(IDENT, word, i))
            i = m.end()
            continue
        if c.isascii() and c.isdigit():
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group()
            value: Any = float(raw) if (m.group(1) or m.group(2)) else int(raw)
            append(Token(NUM, value, i))
            i = m.end()
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD.match(text, i)
            assert m is not None
            append(Token(IDENT, m.group(), i))
            i = m.end()
            continue
        if c == '"':
            if text.startswith('"""', i):
                end = text.find('"""', i + 3)
                if end < 0:
                    raise error_at(text, i, "required: closing triple quote of raw string")
                append(Token(RAW, text[i + 3 : end], i))
                i = end + 3
                continue
            value, end = _read_string(text, i)
            append(Token(STR, value, i))
            i = end
            continue
        if c == "$":
            m = _WORD.match(text, i + 1)
            if not m:
                raise error_at(text, i, "required: variable name after '$'")
            append(Token(VAR, m.group(), i))
            i = m.end()
            continue
        if c == "@":
            m = _SEGMENT.match(text, i + 1)
            if m:
                append(Token(META, m.group(), i))
                i = m.end()
            elif text.startswith('"', i + 1):
                value, end = _read_string(text, i + 1)
                append(Token(META, value, i))
                i = end
            else:
                append(Token(META, None, i))
                i += 1
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                append(Token(OP, op, i))
                i += len(op)
                break
        else:
            raise error_at(text, i, f"unexpected character {c!r}")
    append(Token(EOF, None, n))
    return tokens
