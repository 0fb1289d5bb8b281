"""`downsample` processor: deadband or swinging-door compression per series, state kept per key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from streamforge.bloblang import ParseError
from streamforge.bloblang.error_calls import asks_about_errors, interpolation_asks_about_errors
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, register_processor
from streamforge.plugin.keyed import KeyedOut, KeyedProcessor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.downsample.deadband import Deadband
from streamforge.processors.downsample.reading import (
    DEFAULT_TIMESTAMP,
    DEFAULT_VALUE,
    Reader,
)
from streamforge.processors.downsample.swinging_door import SwingingDoor
from streamforge.processors.telemetry.series import series_key

__all__ = ["DownsampleProcessor"]

METHODS = ("deadband", "swinging_door")


def _band(value: Any) -> tuple[float | None, float | None]:
    """(absolute, percent) of a `deadband` object: exactly one, a number >= 0."""
    conf = value if isinstance(value, Mapping) else {}
    given = {k: conf.get(k) for k in ("absolute", "percent") if conf.get(k) is not None}
    if len(given) != 1:
        raise ValueError("deadband: set exactly one of absolute or percent")
    ((name, given_number),) = given.items()
    number = _non_negative(given_number, f"deadband.{name}")
    return (number, None) if name == "absolute" else (None, number)


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: {value!r} must be a finite number >= 0")
    return float(value)


def _deviation(value: Any) -> float:
    return _non_negative(value, "deviation")


def _max_interval(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"{value!r} must not be negative")
    return seconds


@register_processor(
    "downsample",
    fields=[
        Field(
            "method",
            "string",
            options=METHODS,
            description=(
                "`deadband`: keep a reading that differs from the last kept one by more than "
                "the band. `swinging_door`: keep the points needed so that the kept series, "
                "linearly interpolated, stays within ±`deviation` of every dropped point "
                "(output one point behind)."
            ),
            examples=("swinging_door",),
        ),
        ParsedField(
            "deadband",
            "object",
            parser=_band,
            default={},
            fields=(
                Field(
                    "absolute",
                    "float",
                    default=None,
                    description="The band in the value's unit.",
                    examples=(0.5,),
                ),
                Field(
                    "percent",
                    "float",
                    default=None,
                    description="The band in percent of the last kept value.",
                    examples=(1.0,),
                ),
            ),
            description="For `method: deadband`: exactly one of `absolute` or `percent`.",
        ),
        ParsedField(
            "deviation",
            "float",
            parser=_deviation,
            default=None,
            description=(
                "For `method: swinging_door`: the compression deviation, in the value's unit "
                "(the PI archive's absolute CompDev). 0 drops only points exactly on a line."
            ),
            examples=(0.1,),
        ),
        ParsedField(
            "max_interval",
            "duration",
            parser=_max_interval,
            default="",
            description=(
                "A point is always kept when this long has passed (in the `timestamp` time) "
                "since the last kept one, so a flat signal still shows it is alive. Empty or "
                "0: no limit."
            ),
            examples=("1m", "15m"),
        ),
        Field(
            "timestamp",
            "query",
            default=DEFAULT_TIMESTAMP,
            description=(
                "A Bloblang query for the point's time: RFC 3339, a datetime or unix time "
                "(as `telemetry.device_time`). Null or nothing: the system time when the "
                "point arrives. A value that is no time fails the message."
            ),
            examples=("this.ts", "@opcua_source_timestamp"),
        ),
        Field(
            "value",
            "query",
            default=DEFAULT_VALUE,
            description=(
                "A Bloblang query for the point's value. Finite numbers are compressed; other "
                "values (bool, string, null, NaN, objects) are kept when they change."
            ),
            examples=("this.temperature",),
        ),
        Field(
            "key",
            "string",
            default="",
            interpolable=True,
            description=(
                "The series a message belongs to; each series is compressed on its own. Empty: "
                "`<asset_id>/<parameter>` from the envelope (or the same metadata)."
            ),
            examples=("${! @device }/${! @tag }",),
        ),
    ],
    summary="Keeps fewer points per series (deadband or swinging door) without losing the shape.",
    description=(
        "A stateful processor: each series (`key`) keeps its last kept point and the point "
        "held back, snapshotted with recovery so compression continues across a restart. "
        "Kept messages pass on unchanged; dropped ones are acknowledged. A change of the "
        "envelope's `quality` always keeps the point (and ends a swinging-door segment). When "
        "the input ends, the last point held back is kept, so the end of each series is not "
        "lost. Swinging door emits an archived point when the door closes, i.e. when the "
        "next point arrives: its output is one point behind and carries that point's original "
        "message. Metrics: `streamforge_downsample_kept_total`, "
        "`streamforge_downsample_dropped_total`. See docs/downsampling.md."
    ),
    examples=(
        "downsample:\n  method: deadband\n  deadband:\n    absolute: 0.5\n  max_interval: 15m",
        "downsample:\n  method: swinging_door\n  deviation: 0.2\n  max_interval: 1h\n"
        "  timestamp: this.ts\n  value: this.temperature\n  key: '${! this.sensor }'",
    ),
)
class DownsampleProcessor(KeyedProcessor):
    """Keeps fewer points per series (deadband or swinging door) without losing the shape."""

    def __init__(self, conf: Mapping[str, Any] | None, ctx: BuildContext) -> None:
        conf = conf or {}
        method = conf.get("method")
        if method not in METHODS:
            raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
        try:
            max_interval = _max_interval(conf.get("max_interval") or "")
        except ValueError as exc:
            raise ValueError(f"max_interval: {exc}") from None
        max_ns = round(max_interval * 1e9)
        band = conf.get("deadband") or {}
        band_given = any(band.get(k) is not None for k in ("absolute", "percent"))
        deviation = conf.get("deviation")
        self.method: Deadband | SwingingDoor
        if method == "deadband":
            if deviation is not None:
                raise ValueError("deviation: only for method swinging_door; use deadband")
            self.method = Deadband(*_band(band), max_ns)
        else:
            if band_given:
                raise ValueError("deadband: only for method deadband; use deviation")
            if deviation is None:
                raise ValueError("deviation: required for method swinging_door")
            self.method = SwingingDoor(_deviation(deviation), max_ns)
        self.reader = Reader(
            str(conf.get("timestamp") or DEFAULT_TIMESTAMP), str(conf.get("value") or DEFAULT_VALUE)
        )
        key_text = str(conf.get("key") or "").strip()
        try:
            self.key_text = InterpolatedString(key_text) if key_text else None
        except ParseError as exc:
            raise ValueError(f"key: bad interpolation: {exc}") from None
        self._kept = ctx.metrics.counter("downsample_kept", "Points `downsample` kept (passed on).")
        self._dropped = ctx.metrics.counter(
            "downsample_dropped",
            "Points `downsample` dropped (a held-back point counts once the next point "
            "decides it).",
        )
        self.handles_errors = interpolation_asks_about_errors(key_text) or asks_about_errors(
            str(conf.get("timestamp") or ""), str(conf.get("value") or "")
        )

    def key(self, msg: Message) -> str:
        if self.key_text is None:
            try:
                return series_key(msg)
            except PayloadError:  # not JSON: the metadata names the series, reading fails later
                return series_key(Message(b"null", msg.metadata))
        return self.key_text.render(msg)

    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        points, failed = self.reader.points(batch)
        kept, dropped, state = self.method.feed(points, state)
        if kept:
            self._kept.inc(len(kept))
        if dropped:
            self._dropped.inc(dropped)
        return (kept + failed if failed else kept), state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        kept, state = self.method.flush(state)
        if kept:
            self._kept.inc(len(kept))
        return kept, state
