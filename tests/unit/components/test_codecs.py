"""Codecs: splitting byte streams into records and framing payloads for writing."""

from __future__ import annotations

import pytest

from streamforge.connectors.codecs import CodecError, Splitter, parse_output_codec


def test_lines_split_across_chunks_and_track_consumed_bytes() -> None:
    s = Splitter("lines")
    assert s.feed(b"a\nbb") == [b"a"]
    assert s.consumed == 2
    assert s.feed(b"b\r\nccc") == [b"bbb"]
    assert s.consumed == 7
    assert s.finish() == [b"ccc"]
    assert s.consumed == 10


def test_lines_skip_empty_lines() -> None:
    s = Splitter("lines")
    assert s.feed(b"a\n\n\nb\n") == [b"a", b"b"]
    assert s.finish() == []


def test_custom_delimiter_with_escape() -> None:
    s = Splitter("delim:\\t")
    assert s.feed(b"x\ty\tz") == [b"x", b"y"]
    assert s.finish() == [b"z"]
    s = Splitter("delim:--")
    assert s.feed(b"a--b--") == [b"a", b"b"]


def test_all_bytes_is_one_record() -> None:
    s = Splitter("all-bytes")
    assert s.feed(b"a\nb\n") == []
    assert s.feed(b"c") == []
    assert s.finish() == [b"a\nb\nc"]


def test_overlong_record_is_skipped_and_reported() -> None:
    s = Splitter("lines", max_buffer=4)
    assert s.feed(b"ok\n0123456") == [b"ok"]
    assert len(s.overflows) == 1
    assert s.feed(b"789\nnext\n") == [b"next"]
    assert s.consumed == len(b"ok\n0123456789\nnext\n")


@pytest.mark.parametrize("bad", ["csv", "delim:", "lines2"])
def test_unknown_codecs_are_rejected(bad: str) -> None:
    with pytest.raises(CodecError):
        Splitter(bad)


def test_output_framing() -> None:
    assert parse_output_codec("lines").frame([b"a", b"b"]) == b"a\nb\n"
    assert parse_output_codec("append").frame([b"a", b"b"]) == b"ab"
    assert parse_output_codec("delim:,").frame([b"a", b"b"]) == b"a,b,"
    assert parse_output_codec("all-bytes").overwrite
    with pytest.raises(CodecError):
        parse_output_codec("gzip")
