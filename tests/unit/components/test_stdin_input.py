"""`stdin` input: non-blocking reads from a stream; the end of the stream ends the input."""

from __future__ import annotations

import io
import os
import time

from component_helpers import build

from streamforge.message import Message


def drain(reader, timeout: float = 5.0) -> list[Message]:  # type: ignore[no-untyped-def]
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = reader.read()
        if batch is None:
            return out
        out.extend(batch)
        if not batch:
            time.sleep(0.002)
    raise AssertionError("stdin input did not end")


def test_lines_until_end_of_stream() -> None:
    inp = build("input", "stdin", {"codec": "lines"})
    inp.stream = io.BytesIO(b'{"n":1}\n{"n":2}\nlast')
    out = drain(inp.open("0", None))
    assert [m.payload for m in out] == [b'{"n":1}', b'{"n":2}', b"last"]


def test_read_does_not_block_while_waiting_for_input() -> None:
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as rf, os.fdopen(w, "wb", buffering=0) as wf:
        inp = build("input", "stdin", {})
        inp.stream = rf
        reader = inp.open("0", None)
        start = time.monotonic()
        assert reader.read() == []
        assert time.monotonic() - start < 0.5
        assert reader.next_awake() is not None
        wf.write(b"hello\nwor")
        got: list[bytes] = []
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            got = [m.payload for m in reader.read() or []]
            time.sleep(0.002)
        assert got == [b"hello"]
        wf.write(b"ld\n")
        wf.close()
        assert [m.payload for m in drain(reader)] == [b"world"]


def test_delimiter_codec() -> None:
    inp = build("input", "stdin", {"codec": "delim:;"})
    inp.stream = io.BytesIO(b"a;b;c")
    assert [m.payload for m in drain(inp.open("0", None))] == [b"a", b"b", b"c"]
