"""`mqtt` output: publishes each message; QoS 1/2 count as written once the broker confirmed.

A message is reported written only after the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2), or
once it was sent (QoS 0). At most `max_in_flight` publishes await confirmation at a time, and
later batches are published while earlier ones wait, so input batches are acknowledged as
their confirmations arrive. While the broker is away, a write waits up to `write_timeout` for
the connection to come back; what cannot be published or confirmed in time fails with the
reason (for `fallback` to route, or for the input to deliver again).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from streamforge.connectors.mqtt import MqttClient, MqttSettings, check_qos, connection_fields
from streamforge.connectors.mqtt_frames import publish_frame
from streamforge.connectors.tls import check_tls_files
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["MqttOutput", "check_mqtt_output", "parse_retained"]

log = logging.getLogger("streamforge.outputs.mqtt")

#: publishes awaiting confirmation at a time (MQTT 3.1.1 has no receive maximum)
DEFAULT_MAX_IN_FLIGHT = 1024

_instances: dict[str, itertools.count[int]] = {}
_instances_lock = threading.Lock()


def parse_retained(text: str) -> bool:
    """An interpolated `retained` value: true/false (also 1/0, yes/no)."""
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"retained: {text!r} is not a boolean")


def _unique_client_id(client_id: str) -> str:
    """Each output instance (one per worker) needs its own client id on the broker."""
    with _instances_lock:
        n = next(_instances.setdefault(client_id, itertools.count(1)))
    return client_id if n == 1 else f"{client_id}-{n}"


class _Checked(NamedTuple):
    """An `mqtt` output config as building it reads it."""

    topic: InterpolatedString
    retained: InterpolatedString
    static_retain: bool | None
    qos: int
    write_timeout: float
    max_in_flight: int
    settings: MqttSettings


def check_mqtt_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> _Checked:
    """Every check building the output makes (TLS files included), without connecting."""
    topic = str(conf.get("topic") or "")
    if not topic:
        raise ValueError("topic: a topic is required")
    retained = conf.get("retained_interpolated") or conf.get("retained", False)
    if isinstance(retained, bool):
        retained = "true" if retained else "false"
    retain = InterpolatedString(str(retained))
    static = parse_retained(retain.render(Message(b""))) if retain.is_static else None
    qos = check_qos(conf.get("qos", 1))
    write_timeout = parse_duration(conf.get("write_timeout", "3s"))
    if write_timeout <= 0:
        raise ValueError("write_timeout must be positive")
    max_in_flight = int(conf.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT))
    if not 1 <= max_in_flight <= 65535:
        raise ValueError("max_in_flight must be between 1 and 65535 (MQTT packet ids)")
    settings = MqttSettings.from_conf(conf)
    if settings.use_tls:
        check_tls_files(settings.tls)
        settings.ssl_context()
    return _Checked(
        InterpolatedString(topic), retain, static, qos, write_timeout, max_in_flight, settings
    )


class _Publish:
    """One publish awaiting the broker's confirmation; `seq` counts messages handed over."""

    __slots__ = ("deadline", "done", "frame", "mid", "msg", "seq")

    def __init__(
        self, seq: int, mid: int, msg: Message, deadline: float, frame: bytes = b""
    ) -> None:
        self.seq = seq
        self.mid = mid
        self.msg = msg
        self.deadline = deadline
        self.done = False
        #: the encoded PUBLISH (bulk path), sent again with DUP set after a reconnect
        self.frame = frame


@register_output(
    "mqtt",
    fields=[
        *connection_fields(),
        Field(
            "topic",
            "string",
            interpolable=True,
            description="Topic to publish to; interpolated per message.",
            examples=("plant/${! @asset_id }/telemetry",),
        ),
        Field("qos", "int", default=1, description="QoS of the publishes: 0, 1 or 2."),
        Field(
            "write_timeout",
            "duration",
            default="3s",
            description=(
                "How long a message may wait for the broker's confirmation (and, while "
                "disconnected, for the connection to come back) before it fails."
            ),
        ),
        Field(
            "retained",
            "string",
            default="false",
            interpolable=True,
            description="Set the retain flag: true/false, or interpolated per message.",
            examples=(True, '${! @retain == "yes" }'),
        ),
        Field(
            "retained_interpolated",
            "string",
            default="",
            interpolable=True,
            description="Benthos' interpolated form of `retained`; overrides it when set.",
            advanced=True,
        ),
        Field(
            "max_in_flight",
            "int",
            default=DEFAULT_MAX_IN_FLIGHT,
            description="Most publishes awaiting the broker's confirmation at a time; later "
            "batches are published while earlier ones wait for theirs.",
        ),
    ],
    summary="Publishes messages to an MQTT broker; topic and retain flag may be dynamic.",
    examples=(
        "mqtt:\n  urls: [ tcp://localhost:1883 ]\n  topic: plant/${! @asset_id }/telemetry\n"
        "  qos: 1",
    ),
)
@offline_check(check_mqtt_output)
class MqttOutput(Output):
    """Publishes messages to an MQTT broker; topic and retain flag may be dynamic.

    Publishes are pipelined: up to `max_in_flight` await the broker's confirmation while
    later batches are published. As the stream's own output (`confirm_later`), a batch
    returns once published and its messages count as written when confirmed, in order;
    elsewhere (inside a switch, say) `write_batch` waits for its confirmations.
    """

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        checked = check_mqtt_output(conf)
        self.topic = checked.topic
        self.retained = checked.retained
        self._static_retain = checked.static_retain
        self.qos = checked.qos
        self.write_timeout = checked.write_timeout
        self.max_in_flight = checked.max_in_flight
        settings = checked.settings
        if conf.get("client_id") and not conf.get("dynamic_client_id_suffix"):
            settings.client_id = _unique_client_id(settings.client_id)
        self._cond = threading.Condition()
        #: publishes in order; the head is the oldest one not yet confirmed
        self._window: deque[_Publish] = deque()
        self._by_mid: dict[int, _Publish] = {}
        self._unconfirmed = 0
        #: confirmations that arrived before their publish was registered
        self._early: set[int] = set()
        #: publishes given up on (write_timeout); their late confirmations are ignored
        self._abandoned: set[int] = set()
        self._expired: list[_Publish] = []
        self._given = 0
        self._progress: Callable[[], None] | None = None
        self._advanced = False
        self._next_mid = 0
        self._topic_bytes: dict[str, bytes] = {}
        self.client = MqttClient(
            settings, kind="output", ctx=ctx, logger=log, on_connected=self._connected
        )
        self.client.client.max_inflight_messages_set(self.max_in_flight)
        self.client.client.on_publish = self._published
        self._burst_hook = self.client.after_reads(self._after_reads)
        #: publish through encoded frames written in bulk (paho's publish otherwise)
        self._bulk = self.qos < 2 and self.client.confirm_fast(self._confirmations)
        self.client.start()

    def confirm_later(self, progress: Callable[[], None]) -> None:
        self._progress = progress

    # -- network thread --------------------------------------------------------------------

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._cond:
            entry = self._by_mid.pop(mid, None)
            if entry is None:
                if mid in self._abandoned:
                    self._abandoned.discard(mid)
                else:
                    self._early.add(mid)
                return
            self._confirmed(entry)
        if not self._burst_hook:
            self._after_reads()

    def _confirmations(self, mids: list[int]) -> None:
        """PUBACKs of bulk-written publishes, all those of one read."""
        with self._cond:
            by_mid = self._by_mid
            for mid in mids:
                entry = by_mid.pop(mid, None)
                if entry is not None:
                    self._confirmed(entry)
                else:
                    self._abandoned.discard(mid)
        if not self._burst_hook:
            self._after_reads()

    def _connected(self, client: Any, session_present: bool) -> None:
        """After a reconnect, send unconfirmed bulk publishes again (DUP set)."""
        if not self._bulk or self.client.generation < 2:
            return
        with self._cond:
            again = [bytes((e.frame[0] | 0x08,)) + e.frame[1:] for e in self._window if not e.done]
        if again:
            self.client.send_frames(b"".join(again))

    def _confirmed(self, entry: _Publish) -> None:
        """Mark one publish confirmed (lock held); drop confirmed ones from the head."""
        entry.done = True
        self._unconfirmed -= 1
        window = self._window
        if window and window[0] is entry:
            window.popleft()
            while window and window[0].done:
                window.popleft()
            self._advanced = True
            self._cond.notify_all()

    def _after_reads(self) -> None:
        """After paho handled what one read brought: tell the stream what is now written."""
        if self._advanced and self._progress is not None:
            self._advanced = False
            self._progress()

    # -- worker thread ---------------------------------------------------------------------

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = self._write_bulk(batch) if self._bulk else self._write_paho(batch)
        if self._progress is None:
            self._wait_until_fewer(1)
            failed.extend(self.take_failures())
        return failed

    def _target(self, msg: Message, batch: list[Message], i: int) -> tuple[str, bool]:
        """The topic and retain flag of one message (raises for a bad interpolation)."""
        topic = self.topic.render(msg, batch, i)
        retain = self._static_retain
        if retain is None:
            retain = parse_retained(self.retained.render(msg, batch, i))
        return topic, retain

    def _encoded_topic(self, topic: str) -> bytes:
        """A topic name checked for publishing and encoded (cached)."""
        raw = self._topic_bytes.get(topic)
        if raw is None:
            if not topic or "+" in topic or "#" in topic:
                raise ValueError("a topic to publish to must be non-empty without + or #")
            raw = topic.encode("utf-8")
            if len(raw) > 65535:
                raise ValueError("the topic is longer than 65535 bytes")
            if len(self._topic_bytes) >= 4096:
                self._topic_bytes.clear()
            self._topic_bytes[topic] = raw
        return raw

    def _mid(self) -> int:
        """A packet id no unconfirmed publish uses (lock held)."""
        mid = self._next_mid
        while True:
            mid = mid % 65535 + 1
            if mid not in self._by_mid and mid not in self._abandoned:
                self._next_mid = mid
                return mid

    def _write_bulk(self, batch: list[Message]) -> list[Message]:
        """Encode PUBLISH frames and write them in one go per window's worth."""
        failed: list[Message] = []
        base = self._given
        self._given = base + len(batch)
        qos = self.qos
        deadline = time.monotonic() + self.write_timeout
        frames: list[bytes] = []
        entries: list[_Publish] = []
        for i, msg in enumerate(batch):
            try:
                topic, retain = self._target(msg, batch, i)
                raw_topic = self._encoded_topic(topic)
            except Exception as exc:  # noqa: BLE001 - a bad topic fails its message
                msg.error = f"mqtt output: {exc}"
                failed.append(msg)
                continue
            if not self.client.is_connected and not self.client.wait_connected(self.write_timeout):
                reason = self._down_reason()
                for late in batch[i:]:
                    late.error = reason
                    failed.append(late)
                break
            if qos and self._unconfirmed + len(entries) >= self.max_in_flight:
                self._send(frames, entries)
                frames, entries = [], []
                self._wait_until_fewer(self.max_in_flight)
                deadline = time.monotonic() + self.write_timeout
            if qos:
                with self._cond:
                    mid = self._mid()
                    self._by_mid[mid] = entry = _Publish(base + i, mid, msg, deadline)
                frame = publish_frame(raw_topic, msg.payload, qos, retain, mid)
                entry.frame = frame
                entries.append(entry)
            else:
                frame = publish_frame(raw_topic, msg.payload, 0, retain, 0)
            frames.append(frame)
        self._send(frames, entries)
        return failed

    def _send(self, frames: list[bytes], entries: list[_Publish]) -> None:
        """Register publishes as unconfirmed, then hand their frames to the network thread."""
        if entries:
            with self._cond:
                self._window.extend(entries)
                self._unconfirmed += len(entries)
        if frames:
            self.client.send_frames(b"".join(frames))

    def _write_paho(self, batch: list[Message]) -> list[Message]:
        """Publish through paho, one message at a time (QoS 2, or paho internals unknown)."""
        failed: list[Message] = []
        base = self._given
        self._given = base + len(batch)
        down_reason: str | None = None
        cond = self._cond
        for i, msg in enumerate(batch):
            try:
                topic, retain = self._target(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails its message
                msg.error = f"mqtt output: {exc}"
                failed.append(msg)
                continue
            if (
                down_reason is None
                and not self.client.is_connected
                and not self.client.wait_connected(self.write_timeout)
            ):
                down_reason = self._down_reason()
            if down_reason is not None:
                msg.error = down_reason
                failed.append(msg)
                continue
            if self._unconfirmed >= self.max_in_flight:
                self._wait_until_fewer(self.max_in_flight)
            try:
                info = self.client.client.publish(topic, msg.payload, qos=self.qos, retain=retain)
            except (ValueError, TypeError) as exc:
                msg.error = f"mqtt output: cannot publish to {topic!r}: {exc}"
                failed.append(msg)
                continue
            entry = _Publish(base + i, info.mid, msg, time.monotonic() + self.write_timeout)
            with cond:
                self._window.append(entry)
                self._unconfirmed += 1
                if entry.mid in self._early:
                    self._early.discard(entry.mid)
                    self._confirmed(entry)
                else:
                    self._by_mid[entry.mid] = entry
        return failed

    def _wait_until_fewer(self, limit: int) -> None:
        """Wait until fewer than `limit` publishes await confirmation (expiring late ones)."""
        with self._cond:
            while self._unconfirmed >= limit:
                head = self._window[0]
                left = head.deadline - time.monotonic()
                if left <= 0:
                    self._expire_head()
                    continue
                self._cond.wait(min(left, 0.5))

    def _expire_head(self) -> None:
        """Give up on the oldest unconfirmed publish (lock held)."""
        entry = self._window.popleft()
        self._by_mid.pop(entry.mid, None)
        self._abandoned.add(entry.mid)
        self._unconfirmed -= 1
        self._expired.append(entry)
        while self._window and self._window[0].done:
            self._window.popleft()

    def buffered(self) -> int:
        with self._cond:
            if self._expired:
                oldest = self._expired[0].seq
            elif self._window:
                oldest = self._window[0].seq
            else:
                return 0
            return self._given - oldest

    def take_failures(self) -> list[Message]:
        with self._cond:
            now = time.monotonic()
            while self._window and self._window[0].deadline <= now:
                self._expire_head()
            expired, self._expired = self._expired, []
        if not expired:
            return []
        state = "" if self.client.is_connected else f"; {self._down_reason()}"
        for entry in expired:
            entry.msg.error = (
                f"mqtt output {self.client.label}: no confirmation from the broker "
                f"within write_timeout {self.write_timeout:g}s{state}"
            )
        return [entry.msg for entry in expired]

    def flush(self) -> list[Message]:
        self._wait_until_fewer(1)
        return self.take_failures()

    def _down_reason(self) -> str:
        conn = self.client.connection
        why = f" ({conn.last_error})" if conn.last_error else ""
        return (
            f"mqtt output {self.client.label}: not connected to {self.client.url.url}{why} "
            f"within write_timeout {self.write_timeout:g}s"
        )

    def close(self) -> None:
        self.client.close()
