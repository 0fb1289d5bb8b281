"""`downsampler` processor (benthos-umh): per-topic deadband or swinging door for UMH tags.

benthos-umh's configuration (`default` thresholds per algorithm, `overrides` per topic pattern,
`late_policy`) mapped onto the `downsample` processor's algorithms. Each series is one
`umh_topic`; messages with the `_historian` data contract and a `{value, timestamp_ms}`
payload are compressed, everything else passes unchanged (as does a historian message whose
payload cannot be read: the processor fails open, as benthos-umh's does).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any

from streamforge.durations import parse_duration
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, register_processor
from streamforge.plugin.keyed import KeyedOut, KeyedProcessor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.downsample.deadband import Deadband
from streamforge.processors.downsample.reading import Point, point_value
from streamforge.processors.downsample.swinging_door import SwingingDoor

__all__ = ["Downsampler", "Override", "SeriesConfig", "parse_config"]

LATE_POLICIES = ("passthrough", "drop")
#: the key of messages that are not historian time series (passed on unchanged)
PASS = ""
#: an algorithm section: (threshold, max_time seconds, min_time seconds)
Params = tuple[float, float, float]


@dataclass(frozen=True)
class SeriesConfig:
    """What one series is compressed with."""

    algorithm: str
    threshold: float
    max_time: float
    late_policy: str
    #: `min_time`: no point is kept sooner than this after the last kept one (seconds)
    min_time: float = 0.0

    def describe(self) -> str:
        """The `downsampled_by` metadata of kept messages."""
        limit = f",max_time={self.max_time:g}s" if self.max_time else ""
        if self.min_time:
            limit += f",min_time={self.min_time:g}s"
        return f"{self.algorithm}(threshold={self.threshold:g}{limit})"


@dataclass(frozen=True)
class Override:
    """Settings for topics matching a pattern (or one exact topic)."""

    pattern: str
    topic: str
    regex: re.Pattern[str] | None
    deadband: Params | None
    swinging_door: Params | None
    late_policy: str

    def matches(self, topic: str) -> bool:
        if self.topic:
            return topic == self.topic
        last = topic.rsplit(".", 1)[-1]
        if fnmatch.fnmatchcase(topic, self.pattern) or fnmatch.fnmatchcase(last, self.pattern):
            return True
        return self.regex is not None and self.regex.search(topic) is not None


def _threshold(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}.threshold: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}.threshold: {value!r} must be a finite number >= 0")
    return float(value)


def _duration(value: Any, where: str) -> float:
    if value in (None, ""):
        return 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if seconds < 0:
        raise ValueError(f"{where}: must not be negative")
    return seconds


def _params(block: Any, where: str) -> Params | None:
    """(threshold, max_time, min_time) of an algorithm section; None when it sets nothing."""
    if not isinstance(block, dict):
        return None
    threshold = _threshold(block.get("threshold"), where)
    if block.get("max_time") and block.get("max_interval"):
        raise ValueError(f"{where}: give max_time or its older name max_interval, not both")
    if block.get("max_interval"):
        max_time = _duration(block.get("max_interval"), f"{where}.max_interval")
    else:
        max_time = _duration(block.get("max_time"), f"{where}.max_time")
    min_time = _duration(block.get("min_time"), f"{where}.min_time")
    if max_time and min_time > max_time:
        raise ValueError(f"{where}.min_time: {min_time:g}s is longer than max_time ({max_time:g}s)")
    return (threshold, max_time, min_time) if threshold or max_time or min_time else None


def _late(block: Any, where: str) -> str:
    policy = str((block or {}).get("late_policy") or "") if isinstance(block, dict) else ""
    if policy and policy not in LATE_POLICIES:
        raise ValueError(
            f"{where}.late_policy: {policy!r} is not one of {', '.join(LATE_POLICIES)}"
        )
    return policy


def parse_config(conf: dict[str, Any]) -> tuple[SeriesConfig, list[Override]]:
    """The default series settings and the overrides, checked."""
    default = conf.get("default") or {}
    deadband = _params(default.get("deadband"), "default.deadband")
    swinging = _params(default.get("swinging_door"), "default.swinging_door")
    algorithm, params = "deadband", deadband or (0.0, 0.0, 0.0)
    if deadband is None and swinging is not None:
        algorithm, params = "swinging_door", swinging
    base = SeriesConfig(
        algorithm,
        params[0],
        params[1],
        _late(default.get("late_policy"), "default") or "passthrough",
        params[2],
    )
    overrides: list[Override] = []
    for i, item in enumerate(conf.get("overrides") or []):
        where = f"overrides.{i}"
        pattern = str(item.get("pattern") or "")
        topic = str(item.get("topic") or "")
        if bool(pattern) == bool(topic):
            raise ValueError(f"{where}: set exactly one of pattern or topic")
        regex: re.Pattern[str] | None = None
        if pattern:
            try:
                regex = re.compile(pattern)
            except re.error:
                regex = None  # a shell pattern such as `*.temperature`, not a regular expression
        overrides.append(
            Override(
                pattern,
                topic,
                regex,
                _params(item.get("deadband"), f"{where}.deadband"),
                _params(item.get("swinging_door"), f"{where}.swinging_door"),
                _late(item.get("late_policy"), where),
            )
        )
    return base, overrides


def _section(name: str, description: str) -> Field:
    return Field(
        name,
        "object",
        default={},
        description=description,
        fields=(
            Field(
                "threshold",
                "float",
                default=0.0,
                description="The smallest change (deadband) or deviation (swinging door) kept.",
            ),
            Field(
                "max_time",
                "duration",
                default="",
                description="A point is kept when this long passed since the last kept one.",
            ),
            Field(
                "min_time",
                "duration",
                default="",
                description=(
                    "No point is kept sooner than this after the last kept one: points "
                    "arriving within it are dropped without being compared (rate limit)."
                ),
            ),
            Field(
                "max_interval",
                "duration",
                default="",
                description="The older name of max_time, as earlier benthos-umh examples use it.",
            ),
        ),
    )


def _late_value(value: Any) -> str:
    text = str(value or "")
    if text and text not in LATE_POLICIES:
        raise ValueError(f"{text!r} is not one of {', '.join(LATE_POLICIES)}")
    return text


def _late_field() -> Field:
    return Field(
        "late_policy",
        "object",
        default={},
        description="What happens to a point older than the last one of its series.",
        fields=(
            ParsedField(
                "late_policy",
                "string",
                parser=_late_value,
                default="",
                description=(
                    "`passthrough` (default): passed on uncompressed with metadata "
                    "`late_oos: true`; `drop`: dropped."
                ),
            ),
        ),
    )


def _check_overrides(items: Any) -> Any:
    parse_config({"overrides": items})
    return items


def _check_default(conf: Any) -> Any:
    parse_config({"default": conf})
    return conf


@register_processor(
    "downsampler",
    fields=[
        ParsedField(
            "default",
            "object",
            parser=_check_default,
            default={},
            description=(
                "Settings for every series: the algorithm is the section that sets a value "
                "(deadband when both or neither do)."
            ),
            fields=(
                _section("deadband", "Keep a point that differs by at least `threshold`."),
                _section("swinging_door", "Swinging-door trending within ±`threshold`."),
                _late_field(),
            ),
        ),
        ParsedField(
            "overrides",
            "array",
            parser=_check_overrides,
            default=[],
            description=(
                "Settings for matching topics, first match wins: `pattern` is a shell pattern "
                "(`*.temperature`, also tried against the topic's last part) or a regular "
                "expression; `topic` is one exact topic."
            ),
            item=Field(
                "override",
                "object",
                fields=(
                    Field("pattern", "string", default="", description="A topic pattern."),
                    Field("topic", "string", default="", description="An exact topic."),
                    _section("deadband", "Deadband settings for matching topics."),
                    _section("swinging_door", "Swinging-door settings for matching topics."),
                    _late_field(),
                ),
            ),
        ),
    ],
    summary="Compresses UMH historian tags per topic (benthos-umh downsampler).",
    description=(
        "Series are keyed by `umh_topic` and kept in a stateful step (snapshotted with "
        "recovery). Kept messages pass on unchanged with metadata `downsampled_by`. Swinging "
        "door keeps a point when the next one closes the door, so its output is one point "
        "behind; when the input ends the point held back is kept. Deadband keeps a point whose "
        "change is at least `threshold` (0 keeps every point)."
    ),
    examples=(
        "downsampler:\n  default:\n    deadband:\n      threshold: 0.5\n      max_time: 30m\n"
        "  overrides:\n    - pattern: '*.pressure'\n      swinging_door:\n        threshold: 0.05",
    ),
)
class Downsampler(KeyedProcessor):
    """Compresses UMH historian tags per topic."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.base, self.overrides = parse_config(conf)
        self._resolved: dict[str, tuple[SeriesConfig, Deadband | SwingingDoor]] = {}
        self._kept = ctx.metrics.counter(
            "downsampler_kept", "Points `downsampler` kept (passed on)."
        )
        self._dropped = ctx.metrics.counter("downsampler_dropped", "Points `downsampler` dropped.")

    # -- keys and settings -------------------------------------------------------------------
    def key(self, msg: Message) -> str:
        meta = msg.metadata
        topic = meta.get("umh_topic")
        if not topic:
            return PASS
        contract = meta.get("data_contract")
        if contract == "_historian" or (contract is None and "._historian" in str(topic)):
            return str(topic)
        return PASS

    def settings(self, topic: str) -> tuple[SeriesConfig, Deadband | SwingingDoor]:
        """The settings and algorithm of one topic (resolved once)."""
        found = self._resolved.get(topic)
        if found is not None:
            return found
        conf = self.base
        for ov in self.overrides:
            if not ov.matches(topic):
                continue
            algorithm, threshold = conf.algorithm, conf.threshold
            max_time, min_time = conf.max_time, conf.min_time
            for name, params in (("deadband", ov.deadband), ("swinging_door", ov.swinging_door)):
                if params is not None:
                    algorithm = name
                    threshold = params[0] or threshold
                    max_time = params[1] or max_time
                    min_time = params[2] or min_time
            conf = SeriesConfig(
                algorithm, threshold, max_time, ov.late_policy or conf.late_policy, min_time
            )
            break
        max_ns = round(conf.max_time * 1e9)
        method: Deadband | SwingingDoor
        if conf.algorithm == "deadband":
            # benthos-umh keeps a change of exactly `threshold`; the engine keeps one above
            # its band, so the band is the largest float below the threshold
            method = Deadband(math.nextafter(conf.threshold, -math.inf), None, max_ns)
        else:
            method = SwingingDoor(conf.threshold, max_ns)
        found = (conf, method)
        self._resolved[topic] = found
        return found

    # -- processing --------------------------------------------------------------------------
    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        if key == PASS:
            return batch, state
        conf, method = self.settings(key)
        last_ns, inner = state if state is not None else (None, None)
        points: list[Point] = []
        passing: list[Message] = []
        for msg in batch:
            point = _point(msg)
            if point is None:
                passing.append(msg)  # fail open: not a readable time series point
                continue
            t = point[1]
            if last_ns is not None and t < last_ns:
                if conf.late_policy == "passthrough":
                    msg.metadata["late_oos"] = "true"
                    passing.append(msg)
                else:
                    self._dropped.inc()
                continue
            last_ns = t
            points.append(point)
        if conf.min_time and points:
            kept, dropped, inner = _feed_gated(method, points, inner, round(conf.min_time * 1e9))
        else:
            kept, dropped, inner = method.feed(points, inner)
        tag = conf.describe()
        for msg in kept:
            msg.metadata["downsampled_by"] = tag
        if kept:
            self._kept.inc(len(kept))
        if dropped:
            self._dropped.inc(dropped)
        return kept + passing, (last_ns, inner)

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        if key == PASS or state is None:
            return [], state
        conf, method = self.settings(key)
        kept, inner = method.flush(state[1])
        for msg in kept:
            msg.metadata["downsampled_by"] = conf.describe()
        if kept:
            self._kept.inc(len(kept))
        return kept, (state[0], inner)


def _feed_gated(
    method: Deadband | SwingingDoor, points: list[Point], inner: Any, min_ns: int
) -> tuple[list[Message], int, Any]:
    """`min_time`: points sooner than `min_ns` after the last kept one are dropped unseen.

    Both algorithms' states start with the time of the last kept point, so the gate reads it
    there; the points it lets through are fed one by one so each sees the newest state. Swinging
    door archives the point it holds back when the doors close, so a held point that came
    sooner than `min_ns` after a newly archived start is let go as well (the doors start afresh
    from the next point).
    """
    kept: list[Message] = []
    dropped = 0
    door = isinstance(method, SwingingDoor)
    for point in points:
        if inner is not None and point[1] - inner[0] < min_ns:
            dropped += 1
            continue
        out, n, inner = method.feed([point], inner)
        kept.extend(out)
        dropped += n
        if door and inner is not None and inner[3] is not None and inner[3][1] - inner[0] < min_ns:
            inner = (inner[0], inner[1], inner[2], None, 0.0, 0.0)
            dropped += 1
    return kept, dropped, inner


def _point(msg: Message) -> Point | None:
    """(message, unix ns, value, quality) of a `{value, timestamp_ms}` payload; None otherwise."""
    try:
        doc = msg.value
    except PayloadError:
        return None
    if type(doc) is not dict or "value" not in doc:
        return None
    raw_ts = doc.get("timestamp_ms")
    if isinstance(raw_ts, bool) or not isinstance(raw_ts, (int, float)):
        return None
    if not math.isfinite(raw_ts):
        return None
    return (msg, int(raw_ts) * 1_000_000, point_value(doc["value"]), None)
