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
from typing import Any, NamedTuple

from streamforge.connectors.mqtt import MqttClient, MqttSettings, check_qos, connection_fields
from streamforge.connectors.mqtt_frames import publish_frame
from streamforge.connectors.tls import check_tls_files
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.cluster import process_index
from streamforge.plugin.pending import ConfirmsLater, PendingWrite, PendingWrites
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
    """Each output instance (one per worker, in every process of a cluster) needs its own
    client id on the broker: `id`, `id-2`, ... in process 0, `id-p1`, `id-p1-2`, ... in 1."""
    process = process_index()
    if process:
        client_id = f"{client_id}-p{process}"
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
class MqttOutput(ConfirmsLater, Output):
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
        #: each pending write's `ref` is (packet id, encoded frame or b"")
        self._pending = PendingWrites(self._timeout_error, on_expire=self._abandon)
        self._by_mid: dict[int, PendingWrite] = {}
        #: confirmations that arrived before paho's publish returned its packet id
        self._early: set[int] = set()
        #: packet ids given up on (write_timeout); their late confirmations are ignored
        self._abandoned: set[int] = set()
        self._next_mid = 0
        self._topic_bytes: dict[str, bytes] = {}
        self.client = MqttClient(
            settings, kind="output", ctx=ctx, logger=log, on_connected=self._connected
        )
        self.client.client.max_inflight_messages_set(self.max_in_flight)
        self.client.client.on_publish = self._published
        self._burst_hook = self.client.after_reads(self._pending.report_progress)
        #: publish through encoded frames written in bulk (paho's publish otherwise)
        self._bulk = self.qos < 2 and self.client.confirm_fast(self._confirmations)
        self.client.start()

    # -- network thread --------------------------------------------------------------------

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        """paho's confirmation of a publish it made."""
        with self._pending.lock:
            write = self._by_mid.pop(mid, None)
            if write is None:
                if mid in self._abandoned:
                    self._abandoned.discard(mid)
                else:
                    self._early.add(mid)
                return
            self._pending.settle(write)
        if not self._burst_hook:
            self._pending.report_progress()

    def _confirmations(self, mids: list[int]) -> None:
        """PUBACKs of bulk-written publishes, all those of one read."""
        pending = self._pending
        with pending.lock:
            by_mid = self._by_mid
            for mid in mids:
                write = by_mid.pop(mid, None)
                if write is not None:
                    pending.settle(write)
                else:
                    self._abandoned.discard(mid)
        if not self._burst_hook:
            pending.report_progress()

    def _connected(self, client: Any, session_present: bool) -> None:
        """After a reconnect, send unconfirmed bulk publishes again (DUP set)."""
        if not self._bulk or self.client.generation < 2:
            return
        frames = [w.ref[1] for w in self._pending.unconfirmed()]
        again = [bytes((frame[0] | 0x08,)) + frame[1:] for frame in frames if frame]
        if again:
            self.client.send_frames(b"".join(again))

    def _abandon(self, write: PendingWrite) -> None:
        """A publish past write_timeout: ignore its confirmation should it still come."""
        mid = write.ref[0]
        if self._by_mid.pop(mid, None) is not None:
            self._abandoned.add(mid)

    def _timeout_error(self) -> str:
        state = "" if self.client.is_connected else f"; {self._down_reason()}"
        return (
            f"mqtt output {self.client.label}: no confirmation from the broker "
            f"within write_timeout {self.write_timeout:g}s{state}"
        )

    # -- worker thread ---------------------------------------------------------------------

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = self._write_bulk(batch) if self._bulk else self._write_paho(batch)
        if self._pending.progress is None:
            failed.extend(self._pending.flush())
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

    def _connected_or_failed(self, batch: list[Message], i: int, failed: list[Message]) -> bool:
        """Wait up to write_timeout for the connection; else fail batch[i:]."""
        if self.client.is_connected or self.client.wait_connected(self.write_timeout):
            return True
        reason = self._down_reason()
        for msg in batch[i:]:
            msg.error = reason
            failed.append(msg)
        return False

    def _write_bulk(self, batch: list[Message]) -> list[Message]:
        """Encode PUBLISH frames and write them in one go per window's worth."""
        failed: list[Message] = []
        pending = self._pending
        base = pending.hand_over(len(batch))
        qos = self.qos
        deadline = time.monotonic() + self.write_timeout
        frames: list[bytes] = []
        writes: list[PendingWrite] = []
        for i, msg in enumerate(batch):
            try:
                topic, retain = self._target(msg, batch, i)
                raw_topic = self._encoded_topic(topic)
            except Exception as exc:  # noqa: BLE001 - a bad topic fails its message
                msg.error = f"mqtt output: {exc}"
                failed.append(msg)
                continue
            if not self._connected_or_failed(batch, i, failed):
                break
            if not qos:
                frames.append(publish_frame(raw_topic, msg.payload, 0, retain, 0))
                continue
            if pending.unsettled + len(writes) >= self.max_in_flight:
                self._send(frames, writes)
                frames, writes = [], []
                pending.wait_until_fewer(self.max_in_flight)
                deadline = time.monotonic() + self.write_timeout
            with pending.lock:
                mid = self._mid()
                frame = publish_frame(raw_topic, msg.payload, qos, retain, mid)
                self._by_mid[mid] = write = PendingWrite(base + i, msg, deadline, (mid, frame))
            writes.append(write)
            frames.append(frame)
        self._send(frames, writes)
        return failed

    def _send(self, frames: list[bytes], writes: list[PendingWrite]) -> None:
        """Track publishes as unconfirmed, then hand their frames to the network thread."""
        if writes:
            self._pending.track(writes)
        if frames:
            self.client.send_frames(b"".join(frames))

    def _write_paho(self, batch: list[Message]) -> list[Message]:
        """Publish through paho, one message at a time (QoS 2, or paho internals unknown)."""
        failed: list[Message] = []
        pending = self._pending
        base = pending.hand_over(len(batch))
        for i, msg in enumerate(batch):
            try:
                topic, retain = self._target(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails its message
                msg.error = f"mqtt output: {exc}"
                failed.append(msg)
                continue
            if not self._connected_or_failed(batch, i, failed):
                break
            if pending.unsettled >= self.max_in_flight:
                pending.wait_until_fewer(self.max_in_flight)
            try:
                info = self.client.client.publish(topic, msg.payload, qos=self.qos, retain=retain)
            except (ValueError, TypeError) as exc:
                msg.error = f"mqtt output: cannot publish to {topic!r}: {exc}"
                failed.append(msg)
                continue
            deadline = time.monotonic() + self.write_timeout
            write = PendingWrite(base + i, msg, deadline, (info.mid, b""))
            with pending.lock:
                pending.track([write])
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    pending.settle(write)
                else:
                    self._by_mid[info.mid] = write
        return failed

    def _down_reason(self) -> str:
        conn = self.client.connection
        why = f" ({conn.last_error})" if conn.last_error else ""
        return (
            f"mqtt output {self.client.label}: not connected to {self.client.url.url}{why} "
            f"within write_timeout {self.write_timeout:g}s"
        )

    def close(self) -> None:
        self.client.close()
