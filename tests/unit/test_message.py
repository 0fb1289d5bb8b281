"""The message model: lazy parsing, lazy serialisation, metadata, error flag."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from streamforge.message import Message, PayloadError, serialise_value


def test_payload_is_parsed_on_first_read_and_kept() -> None:
    msg = Message(b'{"a": 1}')
    assert not msg.has_value
    first = msg.value
    assert first == {"a": 1}
    assert msg.value is first  # parsed once, the same structured value afterwards


def test_a_changed_value_is_serialised_once_when_the_payload_is_read() -> None:
    msg = Message(b'{"a": 1}')
    msg.value["a"] = 2
    msg.set_value(msg.value)
    payload = msg.payload
    assert payload == b'{"a":2}'
    assert msg.payload is payload


def test_non_json_payload_raises_payload_error_only_when_the_value_is_needed() -> None:
    msg = Message(b"not json")
    assert msg.payload == b"not json"
    with pytest.raises(PayloadError, match="failed to parse message as JSON"):
        _ = msg.value


def test_set_payload_replaces_the_structured_view() -> None:
    msg = Message.from_value({"a": 1})
    msg.set_payload('{"b": 2}')
    assert msg.value == {"b": 2}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", b"plain text"),
        (b"\x00raw", b"\x00raw"),
        ({"b": 1, "a": [1, 2]}, b'{"a":[1,2],"b":1}'),
        ({"t": "é"}, '{"t":"é"}'.encode()),
        ({"n": 6.0, "m": 2.5, "s": "6.0,"}, b'{"m":2.5,"n":6,"s":"6.0,"}'),
        (3.0, b"3"),
        (None, b"null"),
        (
            {"t": datetime(2020, 8, 14, 11, 50, 26, 371000, tzinfo=timezone.utc)},
            b'{"t":"2020-08-14T11:50:26.371Z"}',
        ),
    ],
)
def test_values_serialise_as_benthos_writes_them(value: Any, expected: bytes) -> None:
    assert serialise_value(value) == expected


def test_copy_is_independent_of_the_original() -> None:
    msg = Message(b'{"a": {"b": 1}}', {"k": "v"})
    dup = msg.copy()
    dup.value["a"]["b"] = 2
    dup.metadata["k"] = "w"
    assert msg.value == {"a": {"b": 1}}
    assert msg.metadata == {"k": "v"}


def test_error_flag_is_carried_and_survives_pickling() -> None:
    msg = Message.from_value({"a": 1}, {"k": "v"}).fail("boom")
    assert msg.errored
    back = pickle.loads(pickle.dumps(msg))
    assert back == msg
    assert back.error == "boom"
    assert back.value == {"a": 1}
