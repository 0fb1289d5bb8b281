"""`sleep` processor: pauses for a duration on every batch."""

from __future__ import annotations

import threading
from typing import Any

from streamforge.durations import parse_duration
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error

__all__ = ["SleepProcessor"]


@register_processor(
    "sleep",
    fields=[
        Field(
            "duration",
            "string",
            interpolable=True,
            description="How long to sleep for each batch; interpolated with its first message.",
            examples=("1s", "200ms", '${! @sleep_for | "1s" }'),
        ),
    ],
    summary="Sleeps for a duration on each batch before passing it on.",
    examples=("sleep:\n  duration: 500ms",),
)
class SleepProcessor(Processor):
    """Sleeps for a duration on each batch before passing it on."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.interpolation import InterpolatedString

        self.duration = InterpolatedString(str(conf["duration"]))
        self._static: float | None = None
        if self.duration.is_static:
            self._static = parse_duration(self.duration.render(Message(b"")))
        self._closed = threading.Event()

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return batch
        seconds = self._static
        if seconds is None:
            try:
                seconds = parse_duration(self.duration.render(batch[0], batch, 0))
            except Exception as exc:  # noqa: BLE001 - a bad duration fails the batch
                reason = f"failed to parse sleep duration: {describe_error(exc)}"
                for m in batch:
                    m.error = reason
                return batch
        if seconds > 0:
            self._closed.wait(seconds)
        return batch

    def close(self) -> None:
        self._closed.set()
