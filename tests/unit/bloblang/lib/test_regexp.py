"""Regular expression methods: Benthos' documented examples, Go RE2 semantics, errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError


@pytest.mark.parametrize(
    ("method", "args", "text", "expected"),
    [
        # Replacement templates follow Go's Regexp.Expand.
        ("re_replace_all", r'"(?P<first>\\w+) (\\w+)", "${2}_$first"', "foo bar", "bar_foo"),
        ("re_replace_all", r'"(\\w+)", "$1x"', "foo", ""),
        ("re_replace_all", r'"(\\w+)", "${1}x"', "foo", "foox"),
        ("re_replace_all", r'"o", "$$"', "foo", "f$$"),
        # Empty matches right after a previous match are skipped, as in Go.
        ("re_replace_all", r'"x*", "-"', "abxd", "-a-b-d-"),
        ("re_find_all", r'"a*"', "baaa", ["", "aaa"]),
        # $ without (?m) matches only at the very end; \d is ASCII only.
        ("re_match", r'"c$"', "abc\n", False),
        ("re_match", r'"^\\d+$"', "١٢٣", False),
        ("re_match", r'"[[:alpha:]]+[[:digit:]]"', "abc1", True),
        ("re_match", r'"\\Qa.b\\E"', "axb", False),
        ("re_match", r'"a(?i)b"', "aB", True),
        ("re_match", r'"(?<name>x)"', "x", True),
        ("re_find_object", r'"(a)|(b)"', "b", {"0": "b", "1": "", "2": "b"}),
        ("re_find_object", r'"z"', "abc", {}),
    ],
)
def test_go_semantics(run: Any, method: str, args: str, text: str, expected: Any) -> None:
    assert run(f"root = this.v.{method}({args})", {"v": text}) == expected


def test_bytes_targets_match_as_text(run: Any) -> None:
    assert run('root = this.v.bytes().re_find_all("[a-z]+")', {"v": "ab 12 cd"}) == ["ab", "cd"]
    assert run('root = this.v.bytes().re_replace_all("b", "x")', {"v": "abc"}) == "axc"


@pytest.mark.parametrize(
    ("mapping", "doc", "message"),
    [
        ("root = this.v.re_match(this.p)", {"v": "x", "p": "(abc"}, "error parsing regexp"),
        (
            'root = this.v.re_match("a")',
            {"v": 5},
            "expected string value, got number from field `this.v` (5)",
        ),
        ("root = this.v.re_find_all(this.p)", {"v": "x", "p": "\\pX"}, "error parsing regexp"),
    ],
)
def test_errors(run: Any, mapping: str, doc: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, doc)
    assert message in str(info.value)
