"""`reject` output: fails every message with an interpolated reason, so the input nacks it
or a `fallback` hands it to the next output."""

from __future__ import annotations

from typing import Any

from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.errors import describe_error

__all__ = ["RejectOutput"]


@register_output(
    "reject",
    config=Field(
        "reject",
        "string",
        interpolable=True,
        description="The reason each message fails with; interpolated per message.",
        examples=("${! error() }", "no route for ${! @kafka_topic }"),
    ),
    summary="Fails every message with an error text, so its input nacks it or a fallback "
    "routes it.",
    description=(
        "Nothing is written. Each message fails with the interpolated text: its input does "
        "not acknowledge it (MQTT and Kafka deliver it again, `http_server` answers 502 with "
        "the text), and inside `fallback` the next output receives it with that error. A "
        "text that cannot be interpolated fails the message with the interpolation error."
    ),
    examples=(
        "switch:\n  cases:\n    - check: errored()\n      output:\n"
        '        reject: "processing failed: ${! error() }"\n'
        "    - output:\n        drop: {}\n",
    ),
)
class RejectOutput(Output):
    """Fails every message with an error text."""

    def __init__(self, conf: Any, ctx: BuildContext | None = None) -> None:
        self.reason = InterpolatedString(str(conf if conf is not None else ""))

    def write_batch(self, batch: list[Message]) -> list[Message]:
        for i, msg in enumerate(batch):
            try:
                reason = self.reason.render(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad interpolation is the reason then
                reason = f"reject: failed to interpolate the reason: {describe_error(exc)}"
            msg.error = reason or "rejected"
        return list(batch)
