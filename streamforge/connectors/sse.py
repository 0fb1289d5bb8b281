"""Server-sent events (the `text/event-stream` format): bytes in, events out, incrementally.

Follows the WHATWG rules: lines end with CRLF, LF or CR; `:` starts a comment; `data` lines of
one event are joined with newlines; a blank line dispatches the event unless it has no data;
`id` is remembered across events (it is what `Last-Event-ID` sends on reconnecting); `retry`
asks for another reconnection delay; an event cut off by the end of the stream is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its data, its type ("message" unless named) and the last id."""

    data: str
    event: str = "message"
    id: str = ""


class SseParser:
    """Feed it the body of an event stream chunk by chunk; it returns the complete events."""

    def __init__(self, max_line: int = 1_000_000) -> None:
        self.max_line = max_line if max_line > 0 else 0
        self.last_id = ""
        #: the reconnection delay the server asked for (seconds), None until it does
        self.retry: float | None = None
        #: one message per line dropped for exceeding `max_line` (inputs report them)
        self.overflows: list[str] = []
        self._buf = bytearray()
        self._started = False
        self._skipping = False
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Add bytes of the stream; return the events they complete."""
        buf = self._buf
        buf += chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(bytes(buf)):
                return []
            if buf.startswith(_BOM):
                del buf[: len(_BOM)]
            self._started = True
        events: list[SseEvent] = []
        start = 0
        while True:
            match = _LINE_END.search(buf, start)
            if match is None:
                break
            if match.group() == b"\r" and match.end() == len(buf):
                break  # a CR at the end of a chunk may be the first half of a CRLF
            line = bytes(buf[start : match.start()])
            start = match.end()
            if self._skipping:
                self._skipping = False
                continue
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        if start:
            del buf[:start]
        if self.max_line and len(buf) > self.max_line:
            self.overflows.append(f"event stream line longer than {self.max_line} bytes skipped")
            buf.clear()
            self._skipping = True
        return events

    def finish(self) -> list[SseEvent]:
        """The stream ended: a pending CR ends its line; an event without its blank line is
        dropped, as browsers drop it."""
        events = self.feed(b"\n") if self._buf.endswith(b"\r") else []
        self.reset()
        return events

    def reset(self) -> None:
        """Forget a partly read event (before reading a new connection); `last_id` stays."""
        self._buf.clear()
        self._started = False
        self._skipping = False
        self._data = []
        self._event = ""

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value) / 1000.0
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent("\n".join(data), event or "message", self.last_id)
