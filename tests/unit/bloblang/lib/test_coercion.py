"""Type coercion methods: Benthos' documented examples, parsing rules and errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib import load_all
from streamforge.bloblang.registry import DELETED, methods

load_all()


def call(name: str, target: Any, *args: Any) -> Any:
    spec = methods[name]
    impl = spec.impl() if spec.per_call_site else spec.impl
    return impl(target, *args)


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- documented examples through the language ----------------------------------------------

DOC_EXAMPLES = [
    ("root.a = this.a.not_empty()", {"a": "foo"}, {"a": "foo"}),
    ("root.a = this.a.not_empty()", {"a": ["foo", "bar"]}, {"a": ["foo", "bar"]}),
    ("root.a = this.a.not_empty()", {"a": {"b": "foo", "c": "bar"}},
     {"a": {"b": "foo", "c": "bar"}}),
    ("root.a = this.a.not_null()", {"a": "foobar", "b": "barbaz"}, {"a": "foobar"}),
    ("root.nested_json = this.string()", {"foo": "bar"}, {"nested_json": '{"foo":"bar"}'}),
    ("root.id = this.id.string()", {"id": 228930314431312345}, {"id": "228930314431312345"}),
    ("root.bar_type = this.bar.type()\nroot.foo_type = this.foo.type()",
     {"bar": 10, "foo": "is a string"}, {"bar_type": "number", "foo_type": "string"}),
    ("root.type = this.type()", "foobar", {"type": "string"}),
    ("root.type = this.type()", 666, {"type": "number"}),
    ("root.type = this.type()", False, {"type": "bool"}),
    ("root.type = this.type()", ["foo", "bar"], {"type": "array"}),
    ("root.type = this.type()", {"foo": "bar"}, {"type": "object"}),
    ("root.type = this.type()", None, {"type": "null"}),
    ("root.first_byte = this.name.bytes().index(0)", {"name": "foobar bazson"},
     {"first_byte": 102}),
    ("root.my_array = this.name.array()", {"name": "foobar bazson"},
     {"my_array": ["foobar bazson"]}),
    ("root.foo = this.thing.number() + 10\nroot.bar = this.thing.number(5) * 10",
     {"thing": "2"}, {"foo": 12, "bar": 20}),
    ("root.foo = this.thing.bool()\nroot.bar = this.thing.bool(true)", {"thing": "f"},
     {"foo": False, "bar": False}),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(mapping: str, doc: Any, expected: Any) -> None:
    assert as_json(run(mapping, doc)) == as_json(expected)


@pytest.mark.parametrize(
    ("doc", "message"),
    [({"a": ""}, "string value is empty"), ({"a": []}, "array value is empty"),
     ({"a": {}}, "object value is empty")],
)  # fmt: skip
def test_not_empty_fails_the_mapping(doc: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        run("root.a = this.a.not_empty()", doc)


def test_not_null_fails_the_mapping_on_missing_field() -> None:
    with pytest.raises(MappingError, match="value is null"):
        run("root.a = this.a.not_null()", {"b": "barbaz"})


def test_number_default_is_used_when_parsing_fails() -> None:
    assert run("root = this.thing.number(5) * 10", {"thing": "nope"}) == 50


# -- bool ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_bool_true_strings(text: str) -> None:
    assert call("bool", text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_bool_false_strings(text: str) -> None:
    assert call("bool", text) is False


def test_bool_of_numbers_is_non_zero() -> None:
    assert call("bool", 0.5) is True
    assert call("bool", 0) is False


def test_bool_of_unparseable_value_fails_or_uses_default() -> None:
    with pytest.raises(MappingError, match=r'expected bool value, got string \("yes"\)'):
        call("bool", "yes")
    assert call("bool", "yes", True) is True
    assert call("bool", None, False) is False


# -- number --------------------------------------------------------------------------------


def test_number_parses_strings_and_keeps_integers() -> None:
    assert call("number", "5") == 5 and type(call("number", "5")) is int
    assert call("number", "2.5") == 2.5
    assert call("number", b"1e3") == 1000
    big = 228930314431312345
    assert call("number", big) == big


def test_number_failures() -> None:
    with pytest.raises(MappingError, match='strconv.ParseFloat: parsing "abc": invalid syntax'):
        call("number", "abc")
    with pytest.raises(MappingError, match="expected number value, got bool"):
        call("number", True)
    assert call("number", "abc", 5.0) == 5


# -- string and bytes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("foo", "foo"),
        (b"raw", "raw"),
        (True, "true"),
        (None, "null"),
        (12, "12"),
        (2.5, "2.5"),
        (3.0, "3"),
        (1e6, "1e+06"),
        ([1, "a", None], '[1,"a",null]'),
        ({"a": [1.0, 2.5], "b": {"c": True}}, '{"a":[1,2.5],"b":{"c":true}}'),
        ({"t": "é"}, '{"t":"é"}'),
    ],
)
def test_string_renders_values_as_benthos(value: Any, text: str) -> None:
    assert call("string", value) == text


def test_string_of_timestamps_is_rfc3339_nano() -> None:
    utc = datetime(2020, 8, 14, 11, 50, 26, 371000, tzinfo=timezone.utc)
    assert call("string", utc) == "2020-08-14T11:50:26.371Z"
    east = datetime(2021, 2, 3, 17, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert call("string", east) == "2021-02-03T17:05:06+01:00"


def test_bytes_marshals_values() -> None:
    assert call("bytes", "foo") == b"foo"
    assert call("bytes", {"a": 1}) == b'{"a":1}'
    assert call("bytes", b"\x00\xff") == b"\x00\xff"


# -- type, array, guards -------------------------------------------------------------------


def test_type_names() -> None:
    now = datetime.now(timezone.utc)
    assert [call("type", v) for v in (b"x", now, 1.5, DELETED)] == [
        "bytes",
        "timestamp",
        "number",
        "delete",
    ]


def test_array_leaves_arrays_alone() -> None:
    items = [1, 2]
    assert call("array", items) is items
    assert call("array", None) == [None]


def test_not_empty_rejects_other_types() -> None:
    with pytest.raises(MappingError, match="expected string, array or object value, got number"):
        call("not_empty", 0)


def test_not_null_passes_falsy_values() -> None:
    assert call("not_null", 0) == 0
    assert call("not_null", "") == ""
