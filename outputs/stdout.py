"""`stdout` output: payloads to standard output, one line (or delimited record) each."""

from __future__ import annotations

import sys
import threading
from typing import Any

from streamforge.connectors.codecs import output_codec_field, parse_output_codec
from streamforge.message import Message
from streamforge.plugin import BuildContext, Output, register_output
from streamforge.plugin.batching import batching_field, with_batching

__all__ = ["build_stdout_output", "StdoutWriter"]

_write_lock = threading.Lock()


@register_output(
    "stdout",
    fields=[
        output_codec_field(
            "How payloads are framed: lines, delim:<x>, append or all-bytes.",
            ("lines", "delim:\\t", "append"),
        ),
        batching_field(),
    ],
    summary="Writes payloads to standard output, by default one message per line.",
    examples=("stdout:\n  codec: lines",),
)
def build_stdout_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Writes payloads to standard output, by default one message per line."""
    return with_batching(StdoutWriter(str(conf.get("codec") or "lines")), conf.get("batching"), ctx)


class StdoutWriter(Output):
    """Writes each batch in one call to `sys.stdout.buffer` and flushes it."""

    def __init__(self, codec: str = "lines") -> None:
        self.codec = parse_output_codec(codec)

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        data = self.codec.frame([m.payload for m in batch])
        try:
            out = sys.stdout.buffer
            with _write_lock:
                out.write(data)
                out.flush()
        except (OSError, ValueError) as exc:
            reason = f"failed to write to stdout: {exc}"
            for m in batch:
                m.error = reason
            return batch
        return []
