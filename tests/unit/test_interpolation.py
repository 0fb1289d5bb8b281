"""Interpolated strings: `${! query }` rendered per message, static strings for free."""

from __future__ import annotations

import datetime as dt

import pytest

from streamforge.bloblang.errors import ParseError
from streamforge.interpolation import InterpolatedString, has_interpolation, render_value
from streamforge.message import Message


def test_static_string_renders_without_touching_the_message() -> None:
    s = InterpolatedString("/data/out.log")
    assert s.is_static
    assert s.render(None) == "/data/out.log"  # type: ignore[arg-type]
    assert s.render_bytes(None) == b"/data/out.log"  # type: ignore[arg-type]


def test_escaped_interpolation_is_a_literal() -> None:
    s = InterpolatedString('keep ${{! meta("x") }} as is, and ${HOME} too')
    assert s.is_static
    assert s.render(Message(b"")) == 'keep ${! meta("x") } as is, and ${HOME} too'


def test_queries_render_per_message() -> None:
    s = InterpolatedString('${! this.site }/${! meta("line") }-${!this.n + 1}.json')
    assert not s.is_static
    msg = Message(b'{"site":"plant_a","n":41}', {"line": "l2"})
    assert s.render(msg) == "plant_a/l2-42.json"
    other = Message(b'{"site":"plant_b","n":1}', {"line": "l9"})
    assert s.render_bytes(other) == b"plant_b/l9-2.json"


def test_query_with_braces_and_strings_inside() -> None:
    s = InterpolatedString('x-${! {"a": "}"}.a }-y')
    assert s.render(Message(b"{}")) == "x-}-y"


def test_values_render_like_benthos() -> None:
    s = InterpolatedString("${! this.v }")
    cases = [
        ("null", "null"), ("true", "true"), ("3", "3"), ("2.5", "2.5"), ('"s"', "s"),
        ('{"a":[1,2]}', '{"a":[1,2]}'),
    ]  # fmt: skip
    for payload, expected in cases:
        assert s.render(Message(('{"v":' + payload + "}").encode())) == expected
    assert render_value(3.0) == "3"
    assert render_value(b"raw") == "raw"
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert render_value(when) == "2024-05-01T12:00:00Z"


def test_batch_index_is_passed_to_queries() -> None:
    s = InterpolatedString("${! batch_index() }")
    batch = [Message(b"a"), Message(b"b")]
    assert [s.render(m, batch, i) for i, m in enumerate(batch)] == ["0", "1"]


def test_bad_query_raises_parse_error_at_its_position_in_the_string() -> None:
    with pytest.raises(ParseError) as info:
        InterpolatedString("prefix-${! this.a + }-suffix")
    # the error points inside the string, after the "+"
    assert info.value.line == 1
    assert info.value.column > len("prefix-${! this.a +")
    assert info.value.text == "prefix-${! this.a + }-suffix"


def test_unterminated_and_empty_interpolations_are_errors() -> None:
    with pytest.raises(ParseError) as info:
        InterpolatedString("a\n  ${! this.x ")
    assert (info.value.line, info.value.column) == (2, 3)
    with pytest.raises(ParseError):
        InterpolatedString("a ${!   } b")


def test_has_interpolation() -> None:
    assert has_interpolation("${! 1 }")
    assert not has_interpolation("${HOME}")
