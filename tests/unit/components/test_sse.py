"""Server-sent events parsing: what a stream of bytes becomes, however it is chunked."""

from __future__ import annotations

import pytest

from streamforge.connectors.sse import SseEvent, SseParser

STREAM = (
    b": keep-alive comment\n"
    b"retry: 2500\n"
    b"\n"
    b"id: 1\n"
    b"event: temperature\n"
    b"data: 21.5\n"
    b"\n"
    b"data: first line\n"
    b"data:second line\n"
    b"\n"
    b"id: 7\n"
    b'data: {"n": 7}\n'
    b"\n"
)
EXPECTED = [
    SseEvent("21.5", "temperature", "1"),
    SseEvent("first line\nsecond line", "message", "1"),
    SseEvent('{"n": 7}', "message", "7"),
]


def feed_all(parser: SseParser, chunks: list[bytes]) -> list[SseEvent]:
    events: list[SseEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.finish()


def test_events_with_types_ids_multiline_data_and_comments() -> None:
    parser = SseParser()
    assert feed_all(parser, [STREAM]) == EXPECTED
    assert parser.retry == 2.5
    assert parser.last_id == "7"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunking_does_not_change_the_events(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert feed_all(SseParser(), chunks) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_every_line_ending(newline: bytes) -> None:
    raw = STREAM.replace(b"\n", newline)
    one_byte = [raw[i : i + 1] for i in range(len(raw))]
    assert feed_all(SseParser(), one_byte) == EXPECTED


def test_a_bom_and_a_field_without_colon() -> None:
    events = feed_all(SseParser(), [b"\xef\xbb", b"\xbfdata\n\ndata: x\n\n"])
    assert events == [SseEvent("", "message", ""), SseEvent("x", "message", "")]


def test_an_event_without_data_is_not_dispatched_but_its_id_is_kept() -> None:
    parser = SseParser()
    assert feed_all(parser, [b"id: 3\nevent: ping\n\n"]) == []
    assert parser.last_id == "3"


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped() -> None:
    parser = SseParser()
    assert parser.feed(b"data: complete\n\ndata: cut") == [SseEvent("complete")]
    assert parser.finish() == []
    assert parser.feed(b"data: next connection\n\n") == [SseEvent("next connection")]


def test_bad_retry_and_ids_with_nul_are_ignored() -> None:
    parser = SseParser()
    feed_all(parser, [b"retry: soon\nid: a\x00b\ndata: x\n\n"])
    assert parser.retry is None and parser.last_id == ""


def test_overlong_lines_are_skipped_and_reported() -> None:
    parser = SseParser(max_line=16)
    events = feed_all(parser, [b"data: " + b"x" * 40, b"y" * 10 + b"\n", b"data: ok\n\n"])
    assert events == [SseEvent("ok")]
    assert parser.overflows and "16 bytes" in parser.overflows[0]
