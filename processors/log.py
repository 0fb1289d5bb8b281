"""`log` processor: logs a message (and optional structured fields) for each message."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.bloblang.error_calls import asks_about_errors, interpolation_asks_about_errors
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error

__all__ = ["LEVELS", "LogProcessor"]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

#: Benthos log levels and the Python logging levels they map to
LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": TRACE,
    "ALL": TRACE,
}

logger = logging.getLogger("streamforge.log")


@register_processor(
    "log",
    fields=[
        Field(
            "level",
            "string",
            default="INFO",
            options=tuple(LEVELS),
            description="The log level of the entries.",
        ),
        Field(
            "fields_mapping",
            "mapping",
            default="",
            description="A Bloblang mapping whose result object is logged as structured fields.",
            examples=('root.reason = "cus I wana"\nroot.id = this.id\nroot.kind = meta("kind")',),
        ),
        Field(
            "message",
            "string",
            default="",
            interpolable=True,
            description="The text to log; interpolated per message.",
            examples=("${! content() }", "received ${! this.id } from ${! @asset_id }"),
        ),
    ],
    summary="Logs a line for each message; the message itself passes on unchanged.",
    description=(
        "Entries go to the `streamforge.log` logger; the fields from `fields_mapping`, the "
        "stream and the processor label are attached as structured fields (the record's "
        "`fields` attribute), which the logfmt and JSON log formats print."
    ),
    examples=("log:\n  level: DEBUG\n  message: 'got ${! content() }'",),
)
class LogProcessor(Processor):
    """Logs a line for each message; the message itself passes on unchanged."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.interpolation import InterpolatedString

        name = str(conf.get("level") or "INFO").upper()
        if name not in LEVELS:
            raise ValueError(f"unknown log level {name!r}; expected one of {', '.join(LEVELS)}")
        self.level = LEVELS[name]
        self.message = InterpolatedString(str(conf.get("message") or ""))
        mapping = str(conf.get("fields_mapping") or "").strip()
        self.fields: Any = None
        if mapping:
            from streamforge.bloblang import parse

            self.fields = parse(mapping)
        self.handles_errors = interpolation_asks_about_errors(
            str(conf.get("message") or "")
        ) or asks_about_errors(str(conf.get("fields_mapping") or ""))
        where = (("stream", getattr(ctx, "stream", "")), ("label", getattr(ctx, "label", "")))
        self.context = {k: v for k, v in where if v}

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not logger.isEnabledFor(self.level):
            return batch
        for i, msg in enumerate(batch):
            self._log_one(msg, batch, i)
        return batch

    def _log_one(self, msg: Message, batch: list[Message], index: int) -> None:
        try:
            text = self.message.render(msg, batch, index)
        except Exception as exc:  # noqa: BLE001 - logging must never fail a message
            text = f"{self.message.text} (interpolation failed: {describe_error(exc)})"
        fields: dict[str, Any] = {}
        if self.fields is not None:
            try:
                res = self.fields.apply_message(msg, batch, index, mutate=False)
                value = res.value if res is not None else None
                if isinstance(value, dict):
                    fields = value
                elif value is not None:
                    fields = {"fields": value}
            except Exception as exc:  # noqa: BLE001 - report, keep logging
                fields = {"fields_mapping_error": describe_error(exc)}
        logger.log(self.level, text, extra={"fields": {**self.context, **fields}})
