"""`snowflake_id`, `typeid`, `mask` and `tracing_span`: documented examples and formats."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib.general import SNOWFLAKE_EPOCH_MS, typeid_string


def run(mapping: str, doc: Any = None) -> Any:
    return parse(mapping).query(doc)


# -- snowflake_id ---------------------------------------------------------------------------


def test_snowflake_id_is_a_decimal_string_of_time_node_and_sequence() -> None:
    before = time.time_ns() // 1_000_000
    ids = run("root = range(0, 50).map_each(_ -> snowflake_id())")
    after = time.time_ns() // 1_000_000
    assert all(isinstance(i, str) and i.isdigit() for i in ids)
    values = [int(i) for i in ids]
    assert values == sorted(values) and len(set(values)) == len(values)
    for v in values:
        assert before <= (v >> 22) + SNOWFLAKE_EPOCH_MS <= after
        assert (v >> 12) & 1023 == 1  # default node_id


def test_snowflake_id_node_id() -> None:
    value = int(run("root = snowflake_id(2)"))
    assert (value >> 12) & 1023 == 2
    value = int(run("root = snowflake_id(node_id: 1023)"))
    assert (value >> 12) & 1023 == 1023
    with pytest.raises(MappingError, match="Node number must be between 0 and 1023"):
        run("root = snowflake_id(1024)")


# -- typeid ---------------------------------------------------------------------------------


def test_typeid_encodes_the_spec_vectors() -> None:
    assert typeid_string("", uuid.UUID(int=0)) == "0" * 26
    assert typeid_string("", uuid.UUID(int=(1 << 128) - 1)) == "7" + "z" * 25
    assert (
        typeid_string("prefix", uuid.UUID("0188bac7-4afa-78aa-bc3b-bd1eef28d881"))
        == "prefix_01h2xcejqtf2nbrexx3vqjhp41"
    )


def test_typeid_function_makes_prefixed_uuidv7_ids() -> None:
    out = run('root = [typeid("user"), typeid(), typeid(prefix: "api_key")]')
    assert re.fullmatch(r"user_[0-7][0-9a-hjkmnp-tv-z]{25}", out[0])
    assert re.fullmatch(r"[0-7][0-9a-hjkmnp-tv-z]{25}", out[1])
    assert out[2].startswith("api_key_")
    # the suffix decodes back to a version 7 UUID of about now
    n = 0
    for c in out[1]:
        n = n * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(c)
    decoded = uuid.UUID(int=n)
    assert decoded.version == 7
    assert abs((n >> 80) - time.time_ns() // 1_000_000) < 60_000


@pytest.mark.parametrize("prefix", ["User", "_user", "user_", "us3r", "a" * 64])
def test_typeid_rejects_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(MappingError, match="typeid prefix"):
        run(f'root = typeid("{prefix}")')


# -- mask -----------------------------------------------------------------------------------


def test_mask_documented_example() -> None:
    out = run('root.body_mask = this.body.mask(4, "right")', {"body": "the cat goes meow"})
    assert out == {"body_mask": "*************meow"}


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ("this.mask()", "******"),
        ("this.mask(3)", "***"),
        ('this.mask(2, "left")', "se****"),
        ('this.mask(10, "left")', "secret"),
        ('this.mask(count: 2, direction: "RIGHT", char: "#")', "####et"),
    ],
)
def test_mask_directions(mapping: str, expected: str) -> None:
    assert run(f"root = {mapping}", "secret") == expected


def test_mask_errors() -> None:
    with pytest.raises(MappingError, match="direction must be one of left, right or all"):
        run('root = this.mask(1, "up")', "secret")
    with pytest.raises(MappingError, match="expected string value"):
        run("root = this.mask()", 5)


# -- tracing_span ---------------------------------------------------------------------------


def test_tracing_span_is_null_for_a_message_without_a_span() -> None:
    out = run(
        "root.headers.traceparent = tracing_span().traceparent",
        {"some_stuff": "just can't be explained by science"},
    )
    assert out == {"headers": {"traceparent": None}}
    assert run("root = tracing_span()") is None


# -- throw ----------------------------------------------------------------------------------

THROW_MAPPING = """root.doc.type = match {
  this.exists("header.id") => "foo"
  this.exists("body.data") => "bar"
  _ => throw("unknown type", {"seen": this.keys()})
}
root.doc.contents = (this.body.content | this.thing.body)"""


def test_throw_documented_example_with_a_context_object() -> None:
    doc = {"header": {"id": "first"}, "thing": {"body": "hello world"}}
    assert run(THROW_MAPPING, doc) == {"doc": {"contents": "hello world", "type": "foo"}}
    with pytest.raises(MappingError) as info:
        run(THROW_MAPPING, {"nothing": "matches"})
    assert str(info.value) == "failed assignment (line 1): unknown type"


def test_throw_context_must_be_an_object() -> None:
    with pytest.raises(Exception, match="argument context: expected object value"):
        run('root = throw("x", 5)')


def test_tracing_id_is_zeroed_without_a_span() -> None:
    assert run("root = tracing_id()") == "0" * 32
