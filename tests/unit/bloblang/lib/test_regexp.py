"""Regular expression methods: Benthos' documented examples, Go RE2 semantics, errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError

DOC_EXAMPLES: list[tuple[str, Any, Any]] = [
    (
        'root.matches = this.value.re_find_all("a.")',
        {"value": "paranormal"},
        {"matches": ["ar", "an", "al"]},
    ),
    (
        'root.matches = this.value.re_find_all_object("a(?P<foo>x*)b")',
        {"value": "-axxb-ab-"},
        {"matches": [{"0": "axxb", "foo": "xx"}, {"0": "ab", "foo": ""}]},
    ),
    (
        "root.matches = this.value.re_find_all_object("
        '"(?m)(?P<key>\\\\w+):\\\\s+(?P<value>\\\\w+)$")',
        {"value": "option1: value1\noption2: value2\noption3: value3"},
        {
            "matches": [
                {"0": "option1: value1", "key": "option1", "value": "value1"},
                {"0": "option2: value2", "key": "option2", "value": "value2"},
                {"0": "option3: value3", "key": "option3", "value": "value3"},
            ]
        },
    ),
    (
        'root.matches = this.value.re_find_all_submatch("a(x*)b")',
        {"value": "-axxb-ab-"},
        {"matches": [["axxb", "xx"], ["ab", ""]]},
    ),
    (
        'root.matches = this.value.re_find_object("a(?P<foo>x*)b")',
        {"value": "-axxb-ab-"},
        {"matches": {"0": "axxb", "foo": "xx"}},
    ),
    (
        'root.matches = this.value.re_find_object("(?P<key>\\\\w+):\\\\s+(?P<value>\\\\w+)")',
        {"value": "option1: value1"},
        {"matches": {"0": "option1: value1", "key": "option1", "value": "value1"}},
    ),
    (
        'root.matches = this.value.re_match("[0-9]")',
        {"value": "there are 10 puppies"},
        {"matches": True},
    ),
    (
        'root.matches = this.value.re_match("[0-9]")',
        {"value": "there are ten puppies"},
        {"matches": False},
    ),
    (
        'root.new_value = this.value.re_replace_all("ADD ([0-9]+)","+($1)")',
        {"value": "foo ADD 70"},
        {"new_value": "foo +(70)"},
    ),
    (
        'root.new_value = this.value.re_replace("ADD ([0-9]+)","+($1)")',
        {"value": "foo ADD 70"},
        {"new_value": "foo +(70)"},
    ),
]


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(run: Any, mapping: str, doc: Any, expected: Any) -> None:
    assert run(mapping, doc) == expected


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
