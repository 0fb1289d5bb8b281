"""Bloblang regular expression methods (Benthos category "Regular Expressions").

Patterns use Go's RE2 syntax; they are translated to Python `re` once and cached. Matching
follows Go: `\\d`, `\\w`, `\\s`, `\\b` are ASCII, `$` without `(?m)` matches only at the end
of the text, and an empty match right after a previous match is skipped.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.registry import Param, method

__all__ = ["compile_go_regex", "expand_template"]

CATEGORY = "regular_expressions"

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAG_GROUP = re.compile(r"\(\?([imsU-]+)\)")
_FLAG_SCOPE = re.compile(r"\(\?([imsU-]+):")


def _translate(p: str) -> str:
    """Rewrite Go RE2 syntax into the Python `re` dialect."""
    if "(?" in p and ("U" in "".join(_FLAG_GROUP.findall(p) + _FLAG_SCOPE.findall(p))):
        raise ValueError("ungreedy flag (?U) is not supported")
    multiline = any("m" in f.split("-")[0] for f in _FLAG_GROUP.findall(p) + _FLAG_SCOPE.findall(p))
    out: list[str] = []
    extra_close = [0]
    i, n = 0, len(p)
    at_start = True
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("trailing backslash at end of expression")
            d = p[i + 1]
            if d == "Q":
                end = p.find("\\E", i + 2)
                lit = p[i + 2 :] if end < 0 else p[i + 2 : end]
                out.append(re.escape(lit))
                i = n if end < 0 else end + 2
            elif d == "z":
                out.append("\\Z")
                i += 2
            elif d == "x" and i + 2 < n and p[i + 2] == "{":
                end = p.index("}", i + 3)
                out.append(f"\\U{int(p[i + 3 : end], 16):08x}")
                i = end + 1
            elif d in "pP":
                raise ValueError("unicode character classes (\\p) are not supported")
            else:
                out.append(p[i : i + 2])
                i += 2
        elif c == "[":
            j = i + 1
            cls = ["["]
            if j < n and p[j] == "^":
                cls.append("^")
                j += 1
            if j < n and p[j] == "]":
                cls.append("\\]")
                j += 1
            while j < n and p[j] != "]":
                if p[j] == "\\" and j + 1 < n:
                    cls.append(p[j : j + 2])
                    j += 2
                elif p.startswith("[:", j):
                    end = p.find(":]", j + 2)
                    name = p[j + 2 : end] if end > 0 else ""
                    if name not in _POSIX:
                        raise ValueError(f"invalid character class range: `{p[j : end + 2]}`")
                    cls.append(_POSIX[name])
                    j = end + 2
                elif p[j] in "[&~|":
                    cls.append("\\" + p[j])
                    j += 1
                else:
                    cls.append(p[j])
                    j += 1
            if j >= n:
                raise ValueError(f"missing closing ]: `{p[i:]}`")
            cls.append("]")
            out.append("".join(cls))
            i = j + 1
        elif c == "(":
            m = _FLAG_GROUP.match(p, i)
            if m:
                if at_start:
                    out.append(m.group(0))
                else:
                    out.append(f"(?{m.group(1)}:")
                    extra_close[-1] += 1
                i = m.end()
                continue
            if p.startswith("(?<", i) and not p.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            else:
                out.append("(")
                i += 1
            extra_close.append(0)
        elif c == ")":
            if len(extra_close) > 1:
                out.append(")" * extra_close.pop())
            out.append(")")
            i += 1
        elif c == "$" and not multiline:
            out.append("\\Z")
            i += 1
        else:
            out.append(c)
            i += 1
        at_start = False
    out.append(")" * extra_close[0])
    return "".join(out)


_CACHE: dict[str, re.Pattern[str]] = {}


def compile_go_regex(pattern: Any) -> re.Pattern[str]:
    """Compile (and cache) a Go RE2 pattern; raises MappingError when it is invalid."""
    rx = _CACHE.get(pattern)
    if rx is not None:
        return rx
    if type(pattern) is not str:
        if isinstance(pattern, (bytes, bytearray)):
            return compile_go_regex(bytes(pattern).decode("utf-8", "replace"))
        raise type_error("string", pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rx = re.compile(_translate(pattern), re.ASCII)
    except (re.error, ValueError, IndexError, OverflowError) as e:
        msg = e.msg if isinstance(e, re.error) else str(e)
        raise MappingError(f"error parsing regexp: {msg}: `{pattern}`") from None
    if len(_CACHE) >= 1024:
        _CACHE.clear()
    _CACHE[pattern] = rx
    return rx


def _target_text(target: Any) -> str:
    if type(target) is str:
        return target
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).decode("utf-8", "surrogateescape")
    raise type_error("string", target)


def _go_finditer(rx: re.Pattern[str], s: str) -> Iterator[re.Match[str]]:
    """All successive matches with Go's rule for empty matches."""
    pos, end, prev_end = 0, len(s), -1
    search = rx.search
    while pos <= end:
        m = search(s, pos)
        if m is None:
            return
        ms, me = m.span()
        accept = True
        if me == pos:
            if ms == prev_end:
                accept = False
            pos += 1
        else:
            pos = me
        prev_end = me
        if accept:
            yield m


def _group_keys(rx: re.Pattern[str]) -> list[str]:
    keys = [str(i) for i in range(rx.groups + 1)]
    for name, idx in rx.groupindex.items():
        keys[idx] = name
    return keys


def _groups(m: re.Match[str]) -> list[str]:
    return [m.group(0)] + [g if g is not None else "" for g in m.groups()]


@method("re_match", [Param("pattern", "string")], category=CATEGORY)
def re_match(target: Any, pattern: Any) -> bool:
    """Whether the pattern matches any part of the string."""
    return compile_go_regex(pattern).search(_target_text(target)) is not None


@method("re_find_all", [Param("pattern", "string")], category=CATEGORY)
def re_find_all(target: Any, pattern: Any) -> list[str]:
    """Every successive match of the pattern."""
    rx = compile_go_regex(pattern)
    return [m.group(0) for m in _go_finditer(rx, _target_text(target))]


@method("re_find_all_submatch", [Param("pattern", "string")], category=CATEGORY)
def re_find_all_submatch(target: Any, pattern: Any) -> list[list[str]]:
    """Every successive match with the text of its subexpressions."""
    rx = compile_go_regex(pattern)
    return [_groups(m) for m in _go_finditer(rx, _target_text(target))]


@method("re_find_object", [Param("pattern", "string")], category=CATEGORY)
def re_find_object(target: Any, pattern: Any) -> dict[str, str]:
    """The first match as an object keyed by group name, or group index when unnamed."""
    rx = compile_go_regex(pattern)
    m = rx.search(_target_text(target))
    if m is None:
        return {}
    return dict(zip(_group_keys(rx), _groups(m)))


@method("re_find_all_object", [Param("pattern", "string")], category=CATEGORY)
def re_find_all_object(target: Any, pattern: Any) -> list[dict[str, str]]:
    """Every match as an object keyed by group name, or group index when unnamed."""
    rx = compile_go_regex(pattern)
    keys = _group_keys(rx)
    return [dict(zip(keys, _groups(m))) for m in _go_finditer(rx, _target_text(target))]


_Template = list[str | int]
_TEMPLATES: dict[tuple[str, re.Pattern[str]], _Template] = {}
_TEMPLATE_REF = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _parse_template(template: str, rx: re.Pattern[str]) -> _Template:
    """Go's Regexp.Expand template: $1, ${1}, $name, ${name}; $$ is a literal $."""
    parts: _Template = []
    pos = 0
    for m in _TEMPLATE_REF.finditer(template):
        if m.start() > pos:
            parts.append(template[pos : m.start()])
        pos = m.end()
        name = m.group(1) or m.group(2)
        if name is None:
            parts.append("$")
        elif name.isdigit():
            idx = int(name)
            if idx <= rx.groups:
                parts.append(idx)
        elif name in rx.groupindex:
            parts.append(rx.groupindex[name])
    if pos < len(template):
        parts.append(template[pos:])
    merged: _Template = []
    for part in parts:
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def expand_template(template: str, rx: re.Pattern[str]) -> _Template:
    """The parsed replacement template for a pattern (cached)."""
    key = (template, rx)
    parts = _TEMPLATES.get(key)
    if parts is None:
        if len(_TEMPLATES) >= 1024:
            _TEMPLATES.clear()
        parts = _TEMPLATES[key] = _parse_template(template, rx)
    return parts


def _re_replace_all(target: Any, pattern: Any, value: Any) -> str:
    rx = compile_go_regex(pattern)
    text = _target_text(target)
    if type(value) is not str:
        if not isinstance(value, (bytes, bytearray)):
            raise type_error("string", value)
        value = bytes(value).decode("utf-8", "surrogateescape")
    parts = expand_template(value, rx)
    literal = parts[0] if len(parts) == 1 and isinstance(parts[0], str) else None
    if len(parts) == 0:
        literal = ""
    out: list[str] = []
    last = 0
    for m in _go_finditer(rx, text):
        out.append(text[last : m.start()])
        if literal is not None:
            out.append(literal)
        else:
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                else:
                    out.append(m.group(part) or "")
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    result = "".join(out)
    if isinstance(target, (bytes, bytearray)):
        return result.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return result


_REPLACE_PARAMS = [Param("pattern", "string"), Param("value", "string")]
method(
    "re_replace_all",
    _REPLACE_PARAMS,
    category=CATEGORY,
    description="Replace every match of the pattern; $1, ${name} expand submatches.",
)(_re_replace_all)
method(
    "re_replace",
    _REPLACE_PARAMS,
    category=CATEGORY,
    description="Deprecated alias of re_replace_all.",
)(_re_replace_all)
