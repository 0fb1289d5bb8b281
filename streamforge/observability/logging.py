"""Logging for running streams: `logger.level`, `logger.format: logfmt|json`, rate-limited errors.

Structured fields travel on a record as `extra={"fields": {...}}` and are rendered by both
formats; `RateLimitedErrorLogger` keeps a burst of failing messages to one line per interval.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

from streamforge.message import Message

__all__ = [
    "JsonFormatter",
    "LogfmtFormatter",
    "RateLimitedErrorLogger",
    "component_logger",
    "configure_logging",
    "parse_level",
]

_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 10,
    "NONE": logging.CRITICAL + 10,
}
_LEVEL_NAMES = {5: "trace", logging.WARNING: "warn", logging.CRITICAL: "fatal"}
_SAMPLE_CHARS = 200


def parse_level(level: str | int) -> int:
    """A logging level from a Benthos level name (TRACE .. FATAL, OFF) or a number."""
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[str(level).strip().upper()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}"
        ) from None


def _level_name(record: logging.LogRecord) -> str:
    return _LEVEL_NAMES.get(record.levelno, record.levelname.lower())


def _timestamp(record: logging.LogRecord) -> str:
    ts = _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' "=\n\t\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


class _FieldsFormatter(logging.Formatter):
    """Base of both formats: `static` fields (logger.static_fields) go on every line."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def document(self, record: logging.LogRecord) -> dict[str, Any]:
        return {
            "level": _level_name(record),
            "ts": _timestamp(record),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.static,
            **_fields(record),
        }


class LogfmtFormatter(_FieldsFormatter):
    """`level=info ts=... logger=... msg="..." key=value` lines."""

    def format(self, record: logging.LogRecord) -> str:
        parts = self.document(record)
        if record.exc_info:
            parts["exception"] = self.formatException(record.exc_info)
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in parts.items())


class JsonFormatter(_FieldsFormatter):
    """One JSON object per line with level, ts, logger, msg and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc = self.document(record)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class _StreamForgeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler StreamForge installed, so reconfiguring replaces it."""


def configure_logging(
    level: str | int = "INFO",
    fmt: str = "logfmt",
    stream: TextIO | None = None,
    static_fields: dict[str, Any] | None = None,
) -> None:
    """Send all logs to stderr (or `stream`) in the chosen format and level."""
    if fmt not in ("logfmt", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected logfmt or json")
    logging.addLevelName(5, "TRACE")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StreamForgeHandler):
            root.removeHandler(handler)
    handler = _StreamForgeHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter if fmt == "json" else LogfmtFormatter
    handler.setFormatter(formatter(static_fields))
    root.addHandler(handler)
    root.setLevel(parse_level(level))


def _sample(msg: Message) -> str:
    try:
        text = msg.payload.decode("utf-8", errors="replace")
    except Exception as exc:  # noqa: BLE001 - a sample must never fail the stream
        text = f"<unserialisable payload: {exc}>"
    return text if len(text) <= _SAMPLE_CHARS else text[:_SAMPLE_CHARS] + "..."


class RateLimitedErrorLogger:
    """Logs failed messages of one component at most once per `interval` seconds.

    Each line carries one sample message with its error and how many failures it stands for.
    """

    def __init__(
        self,
        logger: logging.Logger,
        stream: str,
        component: str,
        what: str = "processing failed",
        interval: float = 5.0,
    ) -> None:
        self.logger = logger
        self.stream = stream
        self.component = component
        self.what = what
        self.interval = interval
        self._pending = 0
        self._last = -float("inf")
        self._sample: Message | None = None
        self._lock = threading.Lock()

    def report(self, count: int, sample: Message) -> None:
        """Count `count` failed messages; log `sample` when the interval has passed."""
        if count <= 0:
            return
        with self._lock:
            self._pending += count
            now = time.monotonic()
            if now - self._last < self.interval:
                # the interval's first failure is kept for its line, copied because later
                # stages (e.g. output processors) may change the message
                if self._sample is None:
                    self._sample = sample.copy()
                return
            self._sample = None
            count, self._pending, self._last = self._pending, 0, now
        self._log(count, sample)

    def flush(self) -> None:
        """Log the failures counted since the last line (at the end of a run)."""
        with self._lock:
            count, self._pending = self._pending, 0
            sample = self._sample
        if count and sample is not None:
            self._log(count, sample)

    def _log(self, count: int, sample: Message) -> None:
        self.logger.error(
            "%s for %d message(s) in %s",
            self.what,
            count,
            self.component,
            extra={
                "fields": {
                    "stream": self.stream,
                    "component": self.component,
                    "count": count,
                    "error": sample.error,
                    "sample": _sample(sample),
                }
            },
        )


def component_logger(kind: str, type_name: str, label: str) -> logging.Logger:
    """A component's logger, `streamforge.<kind>s.<type>.<label>`.

    A child of its type's logger (`streamforge.inputs.mqtt`), so levels set there apply.
    """
    return logging.getLogger(f"streamforge.{kind}s.{type_name}.{label}")
