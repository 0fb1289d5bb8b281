"""`window` processor: tumbling, sliding and session windows over event or system time.

Each key (a series: asset and parameter by default) has its own windows and event-time
watermark, kept in a Bytewax stateful step (so they are snapshotted with recovery) with the
arithmetic of Bytewax's windowing; when a window closes it becomes one StreamForge aggregate
message.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from streamforge.bloblang import DELETED, NOTHING, Executor, ParseError
from streamforge.durations import describe_seconds
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message, PayloadError
from streamforge.plugin import (
    METRICS_REGISTRY,
    BuildContext,
    Field,
    RateLimitedErrorLogger,
    register_processor,
)
from streamforge.plugin.errors import describe_error
from streamforge.plugin.keyed import KeyedOut, KeyedProcessor
from streamforge.plugin.spec import ParsedField
from streamforge.plugin.windows import (
    AGGREGATES,
    DEFAULT_AGGREGATES,
    LATE_MODES,
    WINDOW_TYPES,
    WindowSpec,
    format_micros,
    micros_datetime,
    parse_aggregates,
    parse_align,
)
from streamforge.processors.telemetry.quality import QUALITIES
from streamforge.processors.telemetry.series import series_key
from streamforge.processors.window.aggregates import (
    ASSET,
    PARAMETER,
    UNIT,
    Acc,
    finish,
    make_folder,
    partial_from,
    quality_of,
)
from streamforge.processors.window.memory import MemoryWindows
from streamforge.timefmt.timestamps import format_nanos, time_nanos

__all__ = ["LATE_TOTAL", "PASS_KEY", "WindowProcessor"]

#: key of the parts holding messages `check` leaves out: they pass the window untouched
PASS_KEY = "\x00window-pass"

LATE_TOTAL = Counter(
    "streamforge_window_late",
    "Messages that reached a window after the watermark had passed their event time.",
    ("stream", "component"),
    registry=METRICS_REGISTRY,
)

_RANK: dict[str, int] = {q: i for i, q in enumerate(QUALITIES)}
_PATH = re.compile(r"this((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
#: event-time texts kept parsed, at most this many (readings of one poll share a time)
_TIME_CACHE = 4096

log = logging.getLogger("streamforge.pipeline")


class _Failed(Exception):
    """One message cannot be windowed; the text names the field and the cause."""


_MISSING = object()


def _path_getter(path: tuple[str, ...]) -> Callable[[Any], Any]:
    """`this.a.b` read straight from a document; _MISSING when a step is not an object."""
    if len(path) == 1:
        (first,) = path

        def get1(doc: Any) -> Any:
            return doc.get(first) if type(doc) is dict else _MISSING

        return get1
    if len(path) == 2:
        first, second = path

        def get2(doc: Any) -> Any:
            if type(doc) is dict:
                inner = doc.get(first)
                if type(inner) is dict:
                    return inner.get(second)
            return _MISSING

        return get2

    def get(doc: Any) -> Any:
        value = doc
        for step in path:
            if type(value) is not dict:
                return _MISSING
            value = value.get(step)
        return value

    return get


class _Query:
    """A Bloblang query; plain `this.a.b` paths are read straight from the document."""

    __slots__ = ("executor", "get", "name")

    def __init__(self, name: str, text: str) -> None:
        from streamforge.bloblang import parse_query

        self.name = name
        try:
            self.executor: Executor = parse_query(text)
        except ParseError as exc:
            raise ValueError(f"{name}: bad Bloblang: {exc}") from None
        m = _PATH.fullmatch(text.strip())
        self.get = _path_getter(tuple(m.group(1)[1:].split("."))) if m else None

    def __call__(self, msg: Message, batch: list[Message], i: int, doc: Any) -> Any:
        if self.get is not None:
            value = self.get(doc)
            if value is not _MISSING:
                return value
        try:
            value = self.executor.query_message(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - a failing query fails only its message
            raise _Failed(f"{self.name}: {describe_error(exc)}") from None
        if value is NOTHING or value is DELETED:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).decode("utf-8", errors="replace")
        return value


def _query(conf: Mapping[str, Any], name: str, default: str = "") -> _Query | None:
    text = str(conf.get(name) or default).strip()
    return _Query(name, text) if text else None


@register_processor(
    "window",
    fields=[
        Field(
            "type",
            "string",
            default="tumbling",
            options=WINDOW_TYPES,
            description=(
                "tumbling: back-to-back windows of `size`. sliding: windows of `size` starting "
                "every `slide`, so a reading falls in size/slide windows. session: a window per "
                "burst of readings, closed after `gap` without one."
            ),
        ),
        Field(
            "size",
            "duration",
            default="",
            description="Length of tumbling and sliding windows.",
            examples=("1s", "1m", "1h"),
        ),
        Field(
            "slide",
            "duration",
            default="",
            description="How far apart sliding windows start; at most `size`.",
            examples=("10s",),
        ),
        Field(
            "gap",
            "duration",
            default="",
            description="Session windows: the silence that ends a session.",
            examples=("30s", "5m"),
        ),
        Field(
            "key",
            "string",
            default="",
            interpolable=True,
            description=(
                "The series a message belongs to; each key has its own windows. Empty: "
                "`<asset_id>/<parameter>` from the envelope (or the same metadata)."
            ),
            examples=("${! this.asset_id }", "${! @opcua_tag_path }"),
        ),
        Field(
            "timestamp",
            "query",
            default="",
            description=(
                "A Bloblang query for the event time: an RFC 3339 string, a timestamp, or unix "
                "time as a number (seconds below 1e11, milliseconds below 1e14, microseconds "
                "below 1e17, else nanoseconds). Empty: system time, windows close on the clock. "
                "A message without a valid time fails and passes on flagged."
            ),
            examples=(
                "this.timestamps.device_time",
                "this.window_start",
                "@opcua_source_timestamp",
            ),
        ),
        Field(
            "allowed_lateness",
            "duration",
            default="1s",
            description=(
                "Event time only: how far behind the latest event time a reading may be and "
                "still count. The watermark is the latest event time minus this, advancing "
                "with system time since that event arrived; a window closes when the watermark "
                "reaches its end, and a reading older than the watermark is late."
            ),
            examples=("0s", "5s", "1m"),
        ),
        Field(
            "max_future",
            "duration",
            default="1h",
            description=(
                "Event time only: a reading whose event time is further ahead of system time "
                "than this fails (flagged, passed on) instead of counting: it would move the "
                "series' watermark ahead and make its next good readings late. `0s` turns the "
                "check off."
            ),
            examples=("5m", "0s"),
        ),
        Field(
            "value",
            "query",
            default="this.value",
            description=(
                "A Bloblang query for the reading. Numbers feed sum, avg, min, max and stddev; "
                "other values (strings, null, NaN, infinities, booleans) still count in "
                "`count`, `first` and `last` and are reported in `aggregates.skipped`. Not used "
                "for aggregate messages (see the description)."
            ),
            examples=("this.value", "this.temperature * 0.1"),
        ),
        ParsedField(
            "aggregates",
            "array",
            parser=parse_aggregates,
            default=list(DEFAULT_AGGREGATES),
            item=Field("aggregate", "string", options=AGGREGATES),
            description=(
                "What each window reports: count, sum, avg, min, max, first, last, stddev "
                "(population). `count` is always reported; stddev also reports `m2`, the sum "
                "of squared deviations, so a later window can combine it."
            ),
            examples=(["count", "avg", "min", "max"], ["count", "sum", "stddev", "last"]),
        ),
        ParsedField(
            "align_to",
            "string",
            parser=parse_align,
            default="1970-01-01T00:00:00Z",
            description=(
                "A time at which a tumbling or sliding window starts; windows are laid out "
                "from it in both directions."
            ),
            examples=("2024-01-01T00:00:00+01:00",),
            advanced=True,
        ),
        Field(
            "late",
            "string",
            default="drop",
            options=LATE_MODES,
            description=(
                "What happens to a late reading, always counted in "
                "`streamforge_window_late_total`: drop it; emit it unchanged with metadata "
                "`window_late: true`; or error: the same and flagged as failed, so `fallback` "
                "or a `switch` on `errored()` can route it. With `pass_through` the message "
                "has passed on already and is only counted."
            ),
        ),
        Field(
            "check",
            "query",
            default="",
            description=(
                "Only messages for which this Bloblang query is true are windowed; the others "
                "pass on untouched. Empty: every message. Used to chain resolutions in one "
                "pipeline."
            ),
            examples=('@window_size == "1s"',),
        ),
        Field(
            "pass_through",
            "bool",
            default=False,
            description=(
                "Also pass every windowed message on unchanged, beside the aggregates (so "
                "later windows and outputs still see the finer data)."
            ),
        ),
    ],
    summary="Aggregates each series over tumbling, sliding or session windows.",
    description=(
        "When a window closes it emits one aggregate message per key: `{asset_id, parameter, "
        "unit, quality, window_start, window_end, aggregates: {count, ...}}`, with `quality` "
        "the worst in the window and the window times in RFC 3339 (session windows run from "
        "their first to their last reading). Its metadata carries `asset_id`, `parameter`, "
        "`quality`, `window_key`, `window_type` and `window_size` (the gap for sessions). "
        "A message whose document has an `aggregates` object with a `count` is an aggregate "
        "message from an earlier window: counts and sums add, min and max combine, `avg` is "
        "weighted by the counts and `stddev` is combined from `m2`, so a 1 min window over "
        "1 s aggregates equals a 1 min window over the readings. Its event time usually is "
        "`this.window_start`; give a chained window an `allowed_lateness` of at least the "
        "finer window's size. Open windows are emitted when the input ends, and survive a "
        "restart with `--recovery-dir`."
    ),
    examples=(
        "# 1 s averages of each series, on the device's clock\n"
        "window:\n"
        "  size: 1s\n"
        "  timestamp: this.timestamps.device_time\n"
        "  aggregates: [ count, avg, min, max ]",
        "# 1 min from 1 s aggregates, in the same pipeline, keeping the 1 s ones\n"
        "window:\n"
        "  size: 1m\n"
        "  check: '@window_size == \"1s\"'\n"
        "  timestamp: this.window_start\n"
        "  allowed_lateness: 2s\n"
        "  pass_through: true",
        "# sessions of machine activity, late readings routed as errors\n"
        "window:\n"
        "  type: session\n"
        "  gap: 30s\n"
        "  timestamp: this.timestamps.device_time\n"
        "  late: error",
    ),
)
class WindowProcessor(KeyedProcessor):
    """Aggregates each series over tumbling, sliding or session windows."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext) -> None:
        conf = conf or {}
        self.spec = WindowSpec.from_conf(conf)
        key_text = str(conf.get("key") or "").strip()
        try:
            self.key_text = InterpolatedString(key_text) if key_text else None
        except ParseError as exc:
            raise ValueError(f"key: bad interpolation: {exc}") from None
        self.timestamp = _query(conf, "timestamp")
        self.value = _query(conf, "value", "this.value")
        self.check = _query(conf, "check")
        self.event_time = self.timestamp is not None
        self.pass_through = bool(conf.get("pass_through", False))
        # with pass_through every message has already passed on: a late one is only counted
        self.keep_messages = self.spec.late != "drop" and not self.pass_through
        self.folder = make_folder("stddev" in self.spec.aggregates)
        self.memory = MemoryWindows(self.spec, self.folder, self.event_time)
        #: system time in nanoseconds; the in-memory windows read it (tests may fix it)
        self.now_ns = time.time_ns
        #: event-time text -> ns: a parse cache shared by the workers, not state
        self._times: dict[str, int] = {}
        self.metrics = ctx.metrics
        self.late_total = LATE_TOTAL.labels(stream=ctx.stream, component=ctx.label)
        self.errors = RateLimitedErrorLogger(log, ctx.stream, ctx.label)
        size = self.spec.gap_text if self.spec.type == "session" else self.spec.size_text
        self._meta = {"window_type": self.spec.type, "window_size": size}

    # -- keys ---------------------------------------------------------------------------------

    def key_identity(self) -> str | None:
        """Keyed by series (the default) unless `key` or `check` say otherwise."""
        return "series" if self.key_text is None and self.check is None else None

    def key(self, msg: Message) -> str:
        if self.check is not None:
            selected = self.check(msg, [msg], 0, None)
            if selected is not True:
                if selected is False or selected is None:
                    return PASS_KEY
                raise ValueError(f"check: expected a boolean, got {type(selected).__name__}")
        if self.key_text is None:
            return series_key(msg)
        return self.key_text.render(msg)

    # -- readings -----------------------------------------------------------------------------

    def prepare(
        self, keys: list[str], batch: list[Message], now_ns: int
    ) -> tuple[list[str], list[tuple[Any, ...]], list[Message]]:
        """The windowed keys and their readings, and the messages passing on (unselected,
        failed, or all with `pass_through`)."""
        taken: list[str] = []
        items: list[tuple[Any, ...]] = []
        passing: list[Message] = []
        failed = 0
        first_failed: Message | None = None
        timestamp = self.timestamp
        times = self._times
        keep_all = self.pass_through
        future_ns = self.spec.future_us * 1000
        for i, (key, msg) in enumerate(zip(keys, batch)):
            if key == PASS_KEY:
                passing.append(msg)
                continue
            try:
                try:
                    doc = msg.value
                except PayloadError as exc:
                    raise _Failed(str(exc)) from None
                if timestamp is None:
                    ns = now_ns
                else:
                    raw = timestamp(msg, batch, i, doc)
                    hit = times.get(raw) if type(raw) is str else None
                    if hit is None:
                        hit = self._event_ns(raw)
                        if type(raw) is str:
                            if len(times) >= _TIME_CACHE:
                                times.clear()
                            times[raw] = hit
                    ns = hit
                    if future_ns and ns > now_ns + future_ns:
                        raise _Failed(self._from_the_future(raw, ns, now_ns))
                items.append(self._item(msg, batch, i, doc, ns))
                taken.append(key)
                if keep_all:
                    passing.append(msg)
            except _Failed as exc:
                msg.error = f"window: {exc}"
                passing.append(msg)
                failed += 1
                first_failed = first_failed or msg
        if first_failed is not None:
            self.metrics.errors.inc(failed)
            self.errors.report(failed, first_failed)
        return taken, items, passing

    def _from_the_future(self, raw: Any, ns: int, now_ns: int) -> str:
        ahead = describe_seconds((ns - now_ns) / 1e9)
        return (
            f"timestamp: event time {raw} is {ahead} ahead of the system clock "
            f"(max_future {self.spec.describe_future()})"
        )

    @staticmethod
    def _event_ns(raw: Any) -> int:
        if raw is None:
            raise _Failed("timestamp: the message has no event time (the query gave null)")
        try:
            return time_nanos(raw)
        except ValueError as exc:
            raise _Failed(f"timestamp: {exc}") from None

    def _item(
        self, msg: Message, batch: list[Message], i: int, doc: Any, ns: int
    ) -> tuple[Any, ...]:
        partial = value = None
        if type(doc) is dict:
            quality, unit = doc.get("quality"), doc.get("unit")
            asset, parameter = doc.get("asset_id"), doc.get("parameter")
            if asset is None and parameter is None:
                asset, parameter = msg.metadata.get("asset_id"), msg.metadata.get("parameter")
            aggs = doc.get("aggregates")
            if type(aggs) is dict and "count" in aggs:
                rank = _RANK.get(quality, 0) if type(quality) is str else 0
                try:
                    partial = partial_from(
                        aggs, self.spec.aggregates, ns, rank, unit, asset, parameter
                    )
                except ValueError as exc:
                    raise _Failed(str(exc)) from None
        else:
            meta = msg.metadata
            quality, unit = meta.get("quality"), None
            asset, parameter = meta.get("asset_id"), meta.get("parameter")
        if partial is None and self.value is not None:
            value = self.value(msg, batch, i, doc)
        rank = _RANK.get(quality, 0) if type(quality) is str else 0
        kept = msg if self.keep_messages else None
        return (None, ns, value, rank, unit, asset, parameter, partial, kept)

    # -- results ------------------------------------------------------------------------------

    def aggregate_message(self, key: str, start_us: int, end_us: int, acc: Acc) -> Message:
        """The aggregate message of one closed window."""
        quality = quality_of(acc)
        doc = {
            "asset_id": acc[ASSET],
            "parameter": acc[PARAMETER],
            "unit": acc[UNIT],
            "quality": quality,
            "window_start": format_micros(start_us),
            "window_end": format_micros(end_us),
            "aggregates": finish(acc, self.spec.aggregates),
        }
        meta: dict[str, Any] = {"quality": quality, "window_key": key, **self._meta}
        if acc[ASSET] is not None:
            meta["asset_id"] = acc[ASSET]
        if acc[PARAMETER] is not None:
            meta["parameter"] = acc[PARAMETER]
        return Message(value=doc, metadata=meta)

    def late_message(self, item: tuple[Any, ...]) -> Message | None:
        """Count a late reading; the message to pass on, or None when they are dropped."""
        self.late_total.inc()
        msg: Message | None = item[8]
        if msg is None:
            return None
        msg.metadata["window_late"] = True
        if self.spec.late == "error":
            msg.error = (
                f"window: late: event time {format_nanos(item[1])} is behind the watermark "
                f"(allowed_lateness {self.spec.describe_lateness()})"
            )
            self.metrics.errors.inc()
            self.errors.report(1, msg)
        return msg

    # -- keyed steps ---------------------------------------------------------------------------

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        now = self.now_ns()
        taken, items, out = self.prepare(keys, batch, now)
        if items:
            closed, late = self.memory.feed(states, taken, items, now // 1000)
            out.extend(self.aggregate_message(key, s, e, acc) for key, (s, e, acc) in closed)
            for item in late:
                msg = self.late_message(item)
                if msg is not None:
                    out.append(msg)
        return out

    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        states = {key: state} if state is not None else {}
        out = self.process_shard([key] * len(batch), batch, states)
        return out, states.get(key)

    def notify_at(self, key: str, state: Any) -> datetime | None:
        due = self.memory.due_at(state)
        return None if due is None else micros_datetime(max(due, 0))

    def shard_due(self, keys: Iterable[str], states: dict[str, Any]) -> datetime | None:
        due = self.memory.earliest_due(keys, states)
        return None if due is None else micros_datetime(max(due, 0))

    def resumed(self, states: dict[str, Any]) -> None:
        """After a restart the watermarks go on from where they were: the time the stream was
        down does not advance them, so readings that waited in a broker are not late."""
        now_us = self.now_ns() // 1000
        for state in states.values():
            state[1] = now_us

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        if state is None:
            return [], None
        watermark = self.memory.watermark(state, self.now_ns() // 1000)
        closed = self.memory.close(state, watermark)
        return [self.aggregate_message(key, s, e, acc) for s, e, acc in closed], state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        closed = self.memory.close_all(state)
        return [self.aggregate_message(key, s, e, acc) for s, e, acc in closed], None

    def flush(self) -> list[Message]:
        """Outside a dataflow: emit every open window now, as when the input ends."""
        states: dict[str, Any] = self.__dict__.get("_local_states", {})
        out: list[Message] = []
        for key in list(states):
            emitted, _ = self.on_eof(key, states.pop(key))
            out.extend(emitted)
        return out

    def close(self) -> None:
        self.errors.flush()
