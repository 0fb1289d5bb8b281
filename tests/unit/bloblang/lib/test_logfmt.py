"""`parse_logfmt` and `format_logfmt`: logfmt lines to objects and back."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


def test_parse_logfmt_bare_quoted_escaped_and_flag_values() -> None:
    line = 'ts=2024-01-01T00:00:00Z level=warn msg="disk \\"data\\" 91% full" retry flag= n=3'
    assert run("root = this.line.parse_logfmt()", {"line": line}) == {
        "ts": "2024-01-01T00:00:00Z",
        "level": "warn",
        "msg": 'disk "data" 91% full',
        "retry": True,
        "flag": "",
        "n": "3",
    }


def test_parse_logfmt_reads_bytes_and_keeps_the_last_repeated_key() -> None:
    assert run("root = this.bytes().parse_logfmt()", "k=v") == {"k": "v"}
    assert run("root = this.parse_logfmt()", "   ") == {}
    assert run("root = this.parse_logfmt()", "a=1  a=2\tb=x") == {"a": "2", "b": "x"}


@pytest.mark.parametrize(("line", "message"), [('a="open', "unterminated"), ("=x", "unexpected")])
def test_parse_logfmt_errors(line: str, message: str) -> None:
    with pytest.raises(MappingError, match=f"failed to parse logfmt: {message}"):
        run("root = this.parse_logfmt()", line)


def test_format_logfmt_orders_keys_and_quotes_when_needed() -> None:
    doc = {"msg": "hello world", "level": "info", "n": 3, "f": 2.5, "ok": True, "none": None}
    assert run("root = this.format_logfmt()", doc) == (
        'f=2.5 level=info msg="hello world" n=3 none= ok=true'
    )
    assert run("root = this.format_logfmt()", {"e": "", "q": 'a"b', "arr": [1, 2]}) == (
        'arr=[1,2] e="" q="a\\"b"'
    )


def test_format_then_parse_round_trips_strings() -> None:
    doc = {"msg": 'a "quoted" b=c\nnext', "level": "info"}
    assert run("root = this.format_logfmt().parse_logfmt()", doc) == doc


def test_format_logfmt_needs_an_object() -> None:
    with pytest.raises(MappingError, match="expected object value, got array from this"):
        run("root = this.format_logfmt()", [1])
