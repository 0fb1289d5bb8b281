"""Benthos' reference for the "Type Coercion", "General" and "Deprecated" methods: each
documented example in its documented shape, and a behaviour for those documented without one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError
from streamforge.message import Message

#: the methods Redpanda Connect lists under "Type Coercion"
COERCION_METHODS = [
    "array", "bool", "bytes", "not_empty", "not_null", "number", "string", "timestamp", "type",
]  # fmt: skip
#: the methods Redpanda Connect lists under "General"
GENERAL_METHODS = ["apply", "catch", "from", "from_all", "map", "not", "or"]
#: the methods Redpanda Connect lists under "Deprecated"
DEPRECATED_METHODS = [
    "format_timestamp", "format_timestamp_strftime", "format_timestamp_unix",
    "format_timestamp_unix_micro", "format_timestamp_unix_milli", "format_timestamp_unix_nano",
    "parse_timestamp", "parse_timestamp_strptime",
]  # fmt: skip

#: (mapping, input document, expected output document)
EXAMPLES: list[tuple[str, Any, Any]] = [
    # type coercion
    ("root.xs = this.v.array()", {"v": "one"}, {"xs": ["one"]}),
    ("root.xs = this.v.array()", {"v": [1, 2]}, {"xs": [1, 2]}),
    ("root.a = this.v.bool()\nroot.b = this.w.bool(true)", {"v": "false", "w": "maybe"},
     {"a": False, "b": True}),
    ("root.a = this.v.bool()", {"v": 2}, {"a": True}),
    ("root.first = this.name.bytes().index(0)", {"name": "Zed"}, {"first": 90}),
    ("root.a = this.a.not_empty()", {"a": "x"}, {"a": "x"}),
    ("root.a = this.a.not_empty()", {"a": [0]}, {"a": [0]}),
    ("root.a = this.a.not_empty()", {"a": {"k": 1}}, {"a": {"k": 1}}),
    ("root.a = this.a.not_null()", {"a": 0, "b": None}, {"a": 0}),
    ("root.a = this.v.number() + 10\nroot.b = this.w.number(5) * 10", {"v": "2.5", "w": "x"},
     {"a": 12.5, "b": 50}),
    ("root.s = this.string()", {"k": "v"}, {"s": '{"k":"v"}'}),
    ("root.id = this.id.string()", {"id": 123456789012345678}, {"id": "123456789012345678"}),
    ('root.t = this.ts.timestamp().ts_format("2006-01-02")\n'
     'root.d = this.none.timestamp(0.timestamp()).ts_unix()',
     {"ts": "2024-03-01T10:00:00Z"}, {"t": "2024-03-01", "d": 0}),
    ("root.a = this.a.type()\nroot.b = this.b.type()", {"a": 1.5, "b": "s"},
     {"a": "number", "b": "string"}),
    ("root.t = this.type()", True, {"t": "bool"}),
    ("root.t = this.type()", [1], {"t": "array"}),
    ("root.t = this.type()", {"k": 1}, {"t": "object"}),
    ("root.t = this.type()", None, {"t": "null"}),
    ('root.t = this.ts_parse("2006-01-02").type()', "2024-01-31", {"t": "timestamp"}),
    # general
    ("map inner {\n  root.got = this.first\n}\nroot.out = this.doc.apply(\"inner\")",
     {"doc": {"first": "a"}}, {"out": {"got": "a"}}),
    ('map make {\n  root.kind = "made"\n}\nroot = this\nroot.extra = null.apply("make")',
     {"id": 1}, {"id": 1, "extra": {"kind": "made"}}),
    ('root.id = this.id.string().catch("none")', {"id": 7}, {"id": "7"}),
    ("root.url = this.url.parse_url().catch(err -> {\"error\": err, \"input\": this.url})",
     {"url": "bad %zz url"},
     {"url": {"error": "field `this.url`: parse \"bad %zz url\": invalid URL escape \"%zz\"",
              "input": "bad %zz url"}}),
    ('root.id = this.id.or("fallback")', {"id": None}, {"id": "fallback"}),
    ('root.id = this.id.or("fallback")', {"id": "set"}, {"id": "set"}),
    ("root.n = this.v.map(this.a + this.b)", {"v": {"a": 2, "b": 3}}, {"n": 5}),
    ("root.n = this.v.map(x -> x * 2)", {"v": 21}, {"n": 42}),
    ("root.a = this.t.not()\nroot.b = this.f.not()", {"t": True, "f": False},
     {"a": False, "b": True}),
]  # fmt: skip

#: (mapping, input document, the error Benthos reports)
ERRORS: list[tuple[str, Any, str]] = [
    ("root.a = this.a.not_empty()", {"a": ""}, r"field `this.a`: string value is empty"),
    ("root.a = this.a.not_empty()", {"a": []}, r"field `this.a`: array value is empty"),
    ("root.a = this.a.not_empty()", {"a": {}}, r"field `this.a`: object value is empty"),
    ("root.a = this.a.not_null()", {"b": 1}, r"field `this.a`: value is null"),
    ("root.a = this.a.not()", {"a": 1}, r"expected bool value, got number"),
    ("root.a = this.a.number()", {"a": "x"}, r"ParseFloat: parsing \"x\": invalid syntax"),
]  # fmt: skip


def test_every_reference_method_is_registered() -> None:
    names = COERCION_METHODS + GENERAL_METHODS + DEPRECATED_METHODS
    assert [name for name in names if name not in registry.methods] == []


@pytest.mark.parametrize(("mapping", "doc", "expected"), EXAMPLES)
def test_documented_example(
    run_json: Callable[[str, str], Any], mapping: str, doc: Any, expected: Any
) -> None:
    assert run_json(mapping, json.dumps(doc)) == expected


@pytest.mark.parametrize(("mapping", "doc", "error"), ERRORS)
def test_documented_error(mapping: str, doc: Any, error: str) -> None:
    with pytest.raises(MappingError, match=error):
        parse(mapping).query(doc)


def test_bytes_and_type_of_raw_content(run_json: Callable[[str, str], Any]) -> None:
    assert run_json("root.t = content().type()", "plain text") == {"t": "bytes"}


def test_catch_deletes_a_message_that_is_not_structured() -> None:
    exe = parse("root = this.catch(deleted())")
    assert exe.apply_message(Message(b"not structured", {})) is None
    kept = exe.apply_message(Message(b'{"k":1}', {}))
    assert kept is not None and json.loads(kept.payload) == {"k": 1}


def test_from_and_from_all_read_other_messages_of_the_batch() -> None:
    exe = parse('root = this\nroot.v = json("v").from(1)\nroot.total = json("v").from_all().sum()')
    batch = [Message(json.dumps({"v": n}).encode(), {}) for n in (1, 2, 3)]
    out = [json.loads(m.payload) for m in exe.map_batch(batch)]
    assert out == [{"v": 2, "total": 6}] * 3


def test_deprecated_timestamp_methods() -> None:
    exe = parse(
        'root.a = this.t.format_timestamp("2006-01-02 15:04", "UTC")\n'
        'root.b = this.t.format_timestamp_strftime("%Y/%m/%d", "UTC")\n'
        "root.c = this.t.format_timestamp_unix()\n"
        "root.d = this.t.format_timestamp_unix_milli()\n"
        "root.e = this.t.format_timestamp_unix_micro()\n"
        "root.f = this.t.format_timestamp_unix_nano()\n"
        'root.g = this.day.parse_timestamp("2006-01-02").ts_unix()\n'
        'root.h = this.day.parse_timestamp_strptime("%Y-%m-%d").ts_unix()'
    )
    assert exe.query({"t": "2024-03-01T10:20:30Z", "day": "2024-03-01"}) == {
        "a": "2024-03-01 10:20",
        "b": "2024/03/01",
        "c": 1709288430,
        "d": 1709288430000,
        "e": 1709288430000000,
        "f": 1709288430000000000,
        "g": 1709251200,
        "h": 1709251200,
    }
