"""Benthos' reference for the "Regular Expressions" methods: every documented example."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError, ParseError

#: the methods Benthos (Redpanda Connect) lists under "Regular Expressions"
REFERENCE_METHODS = [
    "re_find_all", "re_find_all_object", "re_find_all_submatch", "re_find_object", "re_match",
    "re_replace", "re_replace_all",
]  # fmt: skip

#: (mapping, input payload, output payload) as the reference writes them
EXAMPLES: list[tuple[str, str, str]] = [
    ('root.matches = this.value.re_find_all("a.")', '{"value":"paranormal"}',
     '{"matches":["ar","an","al"]}'),
    ('root.numbers = this.text.re_find_all("[0-9]+")', '{"text":"I have 2 apples and 15 oranges"}',
     '{"numbers":["2","15"]}'),
    ('root.matches = this.value.re_find_all_object("a(?P<foo>x*)b")', '{"value":"-axxb-ab-"}',
     '{"matches":[{"0":"axxb","foo":"xx"},{"0":"ab","foo":""}]}'),
    ('root.matches = this.value.re_find_all_object("(?m)(?P<key>\\\\w+):\\\\s+(?P<value>\\\\w+)$")',
     '{"value":"option1: value1\\noption2: value2\\noption3: value3"}',
     '{"matches":[{"0":"option1: value1","key":"option1","value":"value1"},'
     '{"0":"option2: value2","key":"option2","value":"value2"},'
     '{"0":"option3: value3","key":"option3","value":"value3"}]}'),
    ('root.matches = this.value.re_find_all_submatch("a(x*)b")', '{"value":"-axxb-ab-"}',
     '{"matches":[["axxb","xx"],["ab",""]]}'),
    ('root.emails = this.text.re_find_all_submatch("(\\\\w+)@(\\\\w+\\\\.\\\\w+)")',
     '{"text":"Contact: alice@example.com or bob@test.org"}',
     '{"emails":[["alice@example.com","alice","example.com"],["bob@test.org","bob","test.org"]]}'),
    ('root.matches = this.value.re_find_object("a(?P<foo>x*)b")', '{"value":"-axxb-ab-"}',
     '{"matches":{"0":"axxb","foo":"xx"}}'),
    ('root.matches = this.value.re_find_object("(?P<key>\\\\w+):\\\\s+(?P<value>\\\\w+)")',
     '{"value":"option1: value1"}',
     '{"matches":{"0":"option1: value1","key":"option1","value":"value1"}}'),
    ('root.matches = this.value.re_match("[0-9]")', '{"value":"there are 10 puppies"}',
     '{"matches":true}'),
    ('root.matches = this.value.re_match("[0-9]")', '{"value":"there are ten puppies"}',
     '{"matches":false}'),
    ('root.new_value = this.value.re_replace("ADD ([0-9]+)","+($1)")', '{"value":"foo ADD 70"}',
     '{"new_value":"foo +(70)"}'),
    ('root.new_value = this.value.re_replace_all("ADD ([0-9]+)","+($1)")',
     '{"value":"foo ADD 70"}', '{"new_value":"foo +(70)"}'),
    ('root.masked = this.email.re_replace_all("(\\\\w{2})\\\\w+@", "$1***@")',
     '{"email":"alice@example.com"}', '{"masked":"al***@example.com"}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example(
    doc_example: Callable[[str, str, str], None], mapping: str, given: str, expected: str
) -> None:
    doc_example(mapping, given, expected)


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example_on_the_python_fallback(
    monkeypatch: pytest.MonkeyPatch,
    doc_example: Callable[[str, str, str], None],
    mapping: str,
    given: str,
    expected: str,
) -> None:
    """Where the google-re2 wheel is missing, patterns are translated to Python's `re`."""
    from streamforge import regexp

    monkeypatch.setattr(regexp, "re2", None)
    monkeypatch.setattr(regexp, "_CACHE", {})
    monkeypatch.setattr(regexp, "_warned", True)
    doc_example(mapping, given, expected)


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


def test_a_bad_literal_pattern_fails_at_compile_time() -> None:
    with pytest.raises(ParseError, match="missing closing"):
        parse('root = this.re_match("a(b")')


def test_a_non_string_target_is_a_type_error() -> None:
    with pytest.raises(MappingError, match="expected string value, got number"):
        parse('root = this.re_find_all("a")').query(5)
