"""Partition specs in Redpanda's string form: what is read, and where a bad one is wrong."""

from __future__ import annotations

import pytest

from streamforge.outputs._iceberg_partition import (
    PartitionSpecError,
    PartitionTerm,
    parse_partition_spec,
)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("()", []),
        ("", []),
        ("(col1)", [PartitionTerm("identity", "col1")]),
        ("(nested.col)", [PartitionTerm("identity", "nested.col")]),
        (
            "(year(ts), col2)",
            [PartitionTerm("year", "ts"), PartitionTerm("identity", "col2")],
        ),
        (
            "( hour(ts) , truncate(42, col2) )",
            [PartitionTerm("hour", "ts"), PartitionTerm("truncate", "col2", 42)],
        ),
        (
            "(day(ts), bucket(4, nested.col))",
            [PartitionTerm("day", "ts"), PartitionTerm("bucket", "nested.col", 4)],
        ),
        (
            "(void(`a.b c`), identity(x.y), `dotted.name`)",
            [
                PartitionTerm("void", "a.b c"),
                PartitionTerm("identity", "x.y"),
                PartitionTerm("identity", "dotted.name"),
            ],
        ),
    ],
)
def test_specs_read(text: str, terms: list[PartitionTerm]) -> None:
    assert parse_partition_spec(text) == terms


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("day(ts)", "expected '('"),
        ("(day(ts)", "ends early"),
        ("(weekday(ts))", "unknown transform 'weekday' at column 2"),
        ("(bucket(ts))", "bucket needs a positive whole number first, got 'ts'"),
        ("(bucket(0, ts))", "positive whole number"),
        ("(a b)", "expected ',' or ')' at column 4"),
        ("(a) extra", "unexpected 'extra' after the spec"),
        ("(a, ;)", "unexpected ';' at column 5"),
    ],
)
def test_bad_specs_say_where(text: str, says: str) -> None:
    with pytest.raises(PartitionSpecError, match=None) as caught:
        parse_partition_spec(text)
    assert says in str(caught.value)
