"""`crash` processor: ends the process with a fatal log line, as Benthos' `crash`.

The line is interpolated with the first message of the batch that reaches it. What was not
written yet is not acknowledged, so inputs that redeliver (Kafka, MQTT sessions, AMQP,
JetStream) hand it out again; the manager restarts a stream that crashed, with backoff.
Put it behind a `switch` or inside a `catch` to crash only on what must not go on.
"""

from __future__ import annotations

import logging
import os
import sys

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error

__all__ = ["CrashProcessor"]

log = logging.getLogger("streamforge.processors.crash")

#: the exit status of a crashed process
CRASH_STATUS = 1


@register_processor(
    "crash",
    config=Field(
        "crash",
        "string",
        interpolable=True,
        description="The fatal log message; interpolated with the batch's first message.",
        examples=("${! @kafka_topic } gave a reading we cannot take: ${! content() }",),
    ),
    summary="Ends the process with a fatal log message (interpolated).",
    examples=(
        "switch:\n  - check: this.version > 3\n    processors:\n"
        "      - crash: 'unsupported envelope version ${! this.version }'",
    ),
)
class CrashProcessor(Processor):
    """Ends the process with a fatal log message."""

    def __init__(self, conf: str, ctx: BuildContext | None = None) -> None:
        from streamforge.interpolation import InterpolatedString

        self.message = InterpolatedString(str(conf))
        self.label = getattr(ctx, "label", "") or "crash"

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return batch
        try:
            text = self.message.render(batch[0], batch, 0)
        except Exception as exc:  # noqa: BLE001 - crash anyway, saying why the text failed
            text = f"{self.message.text} (interpolation failed: {describe_error(exc)})"
        log.critical("crash %s: %s", self.label, text)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(CRASH_STATUS)
