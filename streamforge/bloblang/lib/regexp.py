"""Bloblang regular expression methods (Benthos category "Regular Expressions").

Patterns are Go's RE2 (see `streamforge.regexp`): matching takes linear time, and Perl
constructs RE2 lacks (backreferences, lookaround, possessive repeats) are refused. A literal
pattern is compiled once when the mapping compiles, so a bad one is a compile error at its
place; a pattern computed per message is compiled on first use and cached.
"""

from __future__ import annotations

from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.registry import Param, method
from streamforge.regexp import Regexp, RegexpError, compile_regexp

__all__ = ["compile_go_regex"]

CATEGORY = "regular_expressions"


def compile_go_regex(pattern: Any) -> Regexp:
    """The compiled Go RE2 pattern; raises MappingError when it is invalid."""
    if isinstance(pattern, Regexp):
        return pattern
    if type(pattern) is not str:
        if not isinstance(pattern, (bytes, bytearray)):
            raise type_error("string", pattern)
        pattern = bytes(pattern).decode("utf-8", "replace")
    try:
        return compile_regexp(pattern)
    except RegexpError as exc:
        raise MappingError(str(exc)) from None


def _target(target: Any) -> str | bytes:
    if type(target) is str or isinstance(target, bytes):
        return target  # type: ignore[no-any-return]
    if isinstance(target, bytearray):
        return bytes(target)
    raise type_error("string", target)


def _keyed(rx: Regexp, groups: list[str]) -> dict[str, str]:
    """A match as an object keyed by group name, or by index when unnamed (0 is the match)."""
    return {name or str(i): text for i, (name, text) in enumerate(zip(rx.names, groups))}


_PATTERN = [Param("pattern", "string", prepare=compile_go_regex)]


@method("re_match", _PATTERN, category=CATEGORY)
def re_match(target: Any, pattern: Any) -> bool:
    """Whether the pattern matches any part of the string."""
    return compile_go_regex(pattern).search(_target(target))


@method("re_find_all", _PATTERN, category=CATEGORY)
def re_find_all(target: Any, pattern: Any) -> list[str]:
    """Every successive match of the pattern."""
    return compile_go_regex(pattern).find_all(_target(target))


@method("re_find_all_submatch", _PATTERN, category=CATEGORY)
def re_find_all_submatch(target: Any, pattern: Any) -> list[list[str]]:
    """Every successive match with the text of its subexpressions."""
    return compile_go_regex(pattern).find_all_submatch(_target(target))


@method("re_find_object", _PATTERN, category=CATEGORY)
def re_find_object(target: Any, pattern: Any) -> dict[str, str]:
    """The first match as an object keyed by group name, or group index when unnamed."""
    rx = compile_go_regex(pattern)
    groups = rx.find_submatch(_target(target))
    return {} if groups is None else _keyed(rx, groups)


@method("re_find_all_object", _PATTERN, category=CATEGORY)
def re_find_all_object(target: Any, pattern: Any) -> list[dict[str, str]]:
    """Every match as an object keyed by group name, or group index when unnamed."""
    rx = compile_go_regex(pattern)
    return [_keyed(rx, groups) for groups in rx.find_all_submatch(_target(target))]


def _re_replace_all(target: Any, pattern: Any, value: Any) -> str:
    rx = compile_go_regex(pattern)
    text = _target(target)
    if type(value) is not str:
        if not isinstance(value, (bytes, bytearray)):
            raise type_error("string", value)
        value = bytes(value).decode("utf-8", "replace")
    return rx.replace_all(text, value)


_REPLACE_PARAMS = [*_PATTERN, Param("value", "string")]
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
