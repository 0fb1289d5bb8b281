"""Run-time failures: Benthos' wording, which statement failed, and no crash on bad input."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from streamforge.bloblang import MappingError, ParseError, parse, parse_query
from streamforge.message import Message


@pytest.mark.parametrize(
    ("mapping", "doc", "message"),
    [
        (
            "root.a = this.b + 1",
            {"b": "x"},
            "failed assignment (line 1): cannot add types string (from field `this.b`) "
            "and number (from number literal)",
        ),
        (
            "root.a = 1\nroot.b = null + 1",
            {},
            "failed assignment (line 2): cannot add types null (from null literal) "
            "and number (from number literal)",
        ),
        (
            "root.a = this.a * this.b",
            {"a": 2, "b": True},
            "failed assignment (line 1): cannot multiply types number (from field `this.a`) "
            "and bool (from field `this.b`)",
        ),
        (
            'root.a = 1 > "b"',
            {},
            "failed assignment (line 1): cannot compare types number (from number literal) "
            "and string (from string literal)",
        ),
        (
            "root.a = 5 / 0",
            {},
            "failed assignment (line 1): number literal: attempted to divide by zero",
        ),
        ('root.a = this.x - "1"', {"x": 3}, "cannot subtract types number"),
        (
            "root.a = this.a.uppercase()",
            {"a": 5},
            "failed assignment (line 1): expected string value, got number from field `this.a` (5)",
        ),
        ("root.a = this.a.uppercase()", {"a": "foo"}, None),
        ("root.a = $nope", {}, "failed assignment (line 1): variable 'nope' undefined"),
        ('root.a = throw("custom failure")', {}, "failed assignment (line 1): custom failure"),
        (
            "root.a = true && this.x",
            {"x": 5},
            "failed assignment (line 1): expected bool value, got number (5)",
        ),
        ("root.a = !this.x", {"x": "s"}, 'expected bool value, got string ("s")'),
        ("root.a = if this.x { 1 }", {"x": 1}, "expected bool value, got number (1)"),
        (
            "if this.x {\n  root.a = 1\n}",
            {"x": "y"},
            'failed assignment (line 1): expected bool value, got string ("y")',
        ),
        ("root.a = match this.x { this + 1 => 2 }", {"x": 5}, "expected bool value"),
        ("root.a = {this.k: 1}", {"k": 1}, "object keys must be strings, got number (1)"),
        (
            "root.a = 5\nroot.a.b = 3",
            {},
            "failed assignment (line 2): unable to set target path a.b as the value of a was a "
            "non-object type (number)",
        ),
        (
            "root = 5\nroot.b = 3",
            {},
            "unable to set target path b as the value of the root was a non-object type (number)",
        ),
        ("meta = 5", {}, "setting root meta object requires object value"),
        (
            "root.a = -this.s",
            {"s": "x"},
            'expected number value, got string from field `this.s` ("x")',
        ),
        (
            "root.a = 1\nif this.x > 1 {\n  root.b = 1\n  root.c = this.x.uppercase()\n}",
            {"x": 2},
            "failed assignment (line 4): expected string value, got number from field `this.x`",
        ),
    ],
)
def test_runtime_error_messages(mapping: str, doc: Any, message: str | None) -> None:
    exe = parse(mapping)
    if message is None:
        exe.query(doc)
        return
    with pytest.raises(MappingError) as info:
        exe.query(doc, {})
    assert message in str(info.value)


def test_error_names_the_failed_statement_line_in_a_map() -> None:
    exe = parse('map m {\n  root.a = 1\n  root.b = this.uppercase()\n}\nroot = 5.apply("m")')
    with pytest.raises(MappingError, match=r"failed assignment \(line 3\)"):
        exe.query({})


def test_metadata_assignment_inside_a_map_fails() -> None:
    exe = parse('map m {\n  meta x = "y"\n}\nroot = 1.apply("m")')
    with pytest.raises(MappingError, match="unable to assign metadata"):
        exe.query({})


def test_failed_statement_stops_the_mapping() -> None:
    meta: dict[str, Any] = {}
    with pytest.raises(MappingError):
        parse('meta a = "1"\nroot = throw("x")\nmeta b = "2"').query({}, meta)
    assert meta == {"a": "1"}


def test_unbounded_recursion_is_a_mapping_error() -> None:
    exe = parse('map loop {\n  root = this.apply("loop")\n}\nroot = this.apply("loop")')
    with pytest.raises(MappingError, match="unbounded recursion"):
        exe.query({})


def test_recursion_inside_lambdas_is_a_mapping_error() -> None:
    exe = parse('map loop {\n  root = this.(x -> x.apply("loop"))\n}\nroot = 1.apply("loop")')
    with pytest.raises(MappingError):
        exe.query({})


def _deep(n: int) -> Any:
    doc: Any = 1
    for _ in range(n):
        doc = {"a": doc}
    return doc


def test_very_deep_documents_fail_cleanly_or_work() -> None:
    doc = _deep(50_000)
    with pytest.raises(MappingError, match="nested too deeply"):
        parse("root = this").query(doc)
    assert parse("root.x = this.a.a.a != null").query(doc) == {"x": True}


def test_huge_documents_are_mapped() -> None:
    doc = {f"k{i}": list(range(10)) for i in range(20_000)}
    out = parse("root = this\nroot.count = this.keys().length()").query(doc)
    assert out["count"] == 20_000
    assert len(out) == 20_001


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "1" + ")" * 5000,
        "[" * 5000 + "]" * 5000,
        "!" * 5000 + "true",
        "-" * 5000 + "1",
        "this" + ".catch(1)" * 300,
        "1 | " * 3000 + "2",
        "if true { " * 300 + "1" + " }" * 300,
        "match this { " * 300 + "_ => 1" + " }" * 300,
        '{"a": ' * 3000 + "1" + "}" * 3000,
        "1" + " + 1" * 5000,
    ],
)
def test_pathological_queries_end_in_parse_or_mapping_error(text: str) -> None:
    with contextlib.suppress(ParseError, MappingError):
        parse_query(text).query({})


def test_long_flat_expressions_still_work() -> None:
    assert parse_query("1" + " + 1" * 200).query(None) == 201
    assert parse_query("this" + ".catch(1)" * 40).query(7) == 7


def test_unparseable_payload_error_names_the_field() -> None:
    with pytest.raises(MappingError) as info:
        parse("root.a = this.foo").apply_message(Message(b"{not json"))
    text = str(info.value)
    assert text.startswith("failed assignment (line 1): unable to reference message as structured")
    assert "this.foo" in text
