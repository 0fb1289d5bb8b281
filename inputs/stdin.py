"""`stdin` input: messages from standard input; the end of stdin ends the input."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from streamforge.connectors.codecs import Splitter, input_codec_fields, parse_input_codec
from streamforge.connectors.csv_rows import CsvRows
from streamforge.connectors.scanners import parse_scanner, scanner_field, scanner_messages
from streamforge.message import Message
from streamforge.plugin import BuildContext, Input, InputReader, register_input

__all__ = ["StdinInput", "StreamReader"]

log = logging.getLogger("streamforge.inputs.stdin")

_POLL = timedelta(milliseconds=5)
_CHUNK = 1 << 16
_MAX_BATCH = 1024


@register_input(
    "stdin",
    fields=[
        *input_codec_fields("stdin", ","),
        scanner_field("stdin"),
    ],
    summary="Reads messages from standard input; the input ends when stdin closes.",
    examples=(
        "stdin:\n  codec: lines",
        "stdin:\n  scanner:\n    lines:\n      custom_delimiter: '|'",
        "stdin:\n  scanner:\n    csv:\n      parse_header_row: false",
    ),
)
class StdinInput(Input):
    """Reads messages from standard input; the input ends when stdin closes."""

    one_message_per_batch = True

    def __init__(
        self,
        conf: dict[str, Any],
        ctx: BuildContext | None = None,
        *,
        stream: BinaryIO | None = None,
    ) -> None:
        self.scanner = parse_scanner(
            conf.get("scanner"),
            str(conf.get("codec") or "lines"),
            int(conf.get("max_buffer", 1_000_000) or 0),
        )
        parse_input_codec(self.scanner.codec)
        self.codec, self.max_buffer = self.scanner.codec, self.scanner.max_buffer
        self.stream = stream
        self.log = ctx.logger if ctx is not None else log

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        stream = self.stream if self.stream is not None else sys.stdin.buffer
        return StreamReader(stream, self.scanner.open("stdin"), self.log)


class StreamReader(InputReader):
    """Reads a byte stream on a background thread so `read` never blocks the worker."""

    def __init__(
        self, stream: BinaryIO, splitter: Splitter | CsvRows, logger: logging.Logger = log
    ) -> None:
        self.splitter = splitter
        self.log = logger
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending: list[Message] = []
        self._eof = False
        self._awake: datetime | None = None
        self._thread = threading.Thread(
            target=self._pump, args=(stream,), name="streamforge-stdin", daemon=True
        )
        self._thread.start()

    def _pump(self, stream: BinaryIO) -> None:
        read = getattr(stream, "read1", None) or stream.read
        try:
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                self._chunks.put(chunk)
        except (OSError, ValueError):
            pass
        finally:
            self._chunks.put(None)

    def read(self) -> list[Message] | None:
        split = self.splitter
        batch = self._pending
        self._pending = []
        while not self._eof and len(batch) < _MAX_BATCH:
            try:
                chunk = self._chunks.get_nowait()
            except queue.Empty:
                break
            if chunk is None:
                self._eof = True
                batch.extend(scanner_messages(split.finish(), {}))
            else:
                batch.extend(scanner_messages(split.feed(chunk), {}))
            failed = getattr(split, "failed", None)
            if failed is not None:
                self.log.error("stdin input: %s; the rest of stdin is not read", failed)
                self._eof = True
        while split.overflows:
            batch.append(Message(b"", error=split.overflows.pop(0)))
        if len(batch) > _MAX_BATCH:
            batch, self._pending = batch[:_MAX_BATCH], batch[_MAX_BATCH:]
        if batch:
            self._awake = None
            return batch
        if self._eof:
            return None
        self._awake = datetime.now(timezone.utc) + _POLL
        return []

    def next_awake(self) -> datetime | None:
        return self._awake
