"""`mqtt` input: subscribes to topics; QoS 1/2 messages are acknowledged after the output wrote.

The paho network loop runs in its own thread and puts messages into a bounded queue that
`read()` drains without blocking. With `manual_ack`, a PUBACK (QoS 1) or PUBCOMP (QoS 2) is
sent only when the stream acknowledges the batch, so with `clean_session: false` and a fixed
`client_id` the broker keeps and redelivers whatever was not written yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.connectors.mqtt import MqttClient, MqttSettings, check_qos, connection_fields
from streamforge.connectors.mqtt_frames import Publish, publish_of
from streamforge.connectors.tls import check_tls_files
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import Backoff

__all__ = ["MqttInput", "MqttReader"]

log = logging.getLogger("streamforge.inputs.mqtt")

#: most messages one read() returns
READ_BATCH = 500
#: messages held between the network thread and read(); beyond it the network thread waits
QUEUE_LIMIT = 10_000
#: MQTT 5: unacknowledged messages the broker may send at a time (the queue holds them)
RECEIVE_MAXIMUM = QUEUE_LIMIT
#: how long a closing input waits for the stream to acknowledge what it already read
CLOSE_GRACE = 5.0


class _Received:
    """A message as the broker delivered it (kept pristine for acks and replays)."""

    __slots__ = ("dup", "generation", "mid", "payload", "qos", "retain", "topic")

    def __init__(self, frame: Publish, generation: int) -> None:
        self.topic, self.qos, self.retain, self.dup, self.mid, self.payload = frame
        self.generation = generation

    def message(self) -> Message:
        return Message(
            self.payload,
            {
                "mqtt_topic": self.topic,
                "mqtt_qos": self.qos,
                "mqtt_retained": self.retain,
                "mqtt_duplicate": self.dup,
                "mqtt_message_id": self.mid,
            },
        )


@register_input(
    "mqtt",
    fields=[
        *connection_fields(),
        Field(
            "topics",
            "array",
            item=Field("topic", "string"),
            description="Topics to subscribe to; MQTT wildcards `+` and `#` are allowed.",
            examples=(["plant/+/temperature", "plant/line1/#"],),
        ),
        Field(
            "qos",
            "int",
            default=1,
            description=(
                "QoS of the subscriptions: 0 at most once, 1 at least once, 2 exactly once "
                "(as far as the broker is concerned)."
            ),
        ),
        Field(
            "protocol_version",
            "string",
            default="5",
            options=("5", "3.1.1"),
            description=(
                "MQTT version spoken to the broker. With 5 StreamForge tells the broker how "
                "many unacknowledged messages it may send at once (its `receive maximum`), so "
                "acknowledging only after the output wrote does not throttle the input; with "
                "3.1.1 the broker's own limit applies (Mosquitto: `max_inflight_messages`, 20 "
                "by default). Use 3.1.1 for a broker that does not speak MQTT 5."
            ),
            advanced=True,
        ),
        Field(
            "clean_session",
            "bool",
            default=True,
            description=(
                "Start a new session on every connection. With false (and a fixed client_id) "
                "the broker keeps subscriptions and QoS 1/2 messages while StreamForge is away."
            ),
        ),
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            description=(
                "Replay messages the output failed to write (with backoff) until they are "
                "written. With false they are dropped and acknowledged, with a warning."
            ),
        ),
    ],
    summary="Subscribes to topics on an MQTT broker; acknowledges QoS 1/2 after the output wrote.",
    description=(
        "Metadata: `mqtt_topic`, `mqtt_qos`, `mqtt_retained`, `mqtt_duplicate`, "
        "`mqtt_message_id`. Payloads pass through as raw bytes."
    ),
    examples=(
        "mqtt:\n  urls: [ tcp://localhost:1883 ]\n  topics: [ plant/+/telemetry ]\n"
        "  client_id: gateway-1\n  clean_session: false\n  qos: 1",
    ),
)
class MqttInput(Input):
    """Subscribes to topics on an MQTT broker; acknowledges QoS 1/2 after the output wrote."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.topics = [str(t) for t in conf.get("topics") or [] if str(t)]
        if not self.topics:
            raise ValueError("topics: at least one topic is required")
        for topic in self.topics:
            _check_filter(topic)
        self.qos = check_qos(conf.get("qos", 1))
        self.clean_session = bool(conf.get("clean_session", True))
        self.replay_nacks = bool(conf.get("auto_replay_nacks", True))
        self.settings = MqttSettings.from_conf(conf, clean_session=self.clean_session)
        protocol = str(conf.get("protocol_version", "5"))
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"protocol_version: {protocol!r} is not 5 or 3.1.1")
        self.settings.protocol = protocol
        self.settings.receive_maximum = RECEIVE_MAXIMUM
        if self.settings.use_tls:
            check_tls_files(self.settings.tls)  # bad certificate files fail at build time
            self.settings.ssl_context()
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return MqttReader(self)


def _check_filter(topic: str) -> None:
    """A topic filter as MQTT allows it: `#` last and alone in its level, `+` alone."""
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"topics: {topic!r}: '#' must be the whole last level")
        if "+" in level and level != "+":
            raise ValueError(f"topics: {topic!r}: '+' must be a whole level")


class MqttReader(InputReader):
    """The one partition of an MQTT input: one client, one session."""

    def __init__(self, source: MqttInput) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        #: appended by the network thread alone (without the lock), popped under the lock
        self._queue: deque[_Received] = deque()
        self._full = False
        self._pending: dict[int, list[_Received]] = {}
        self._replays: deque[tuple[float, list[_Received]]] = deque()
        self._replay_backoff = Backoff(initial=0.5, maximum=10.0)
        self._nack_logged = 0.0
        self._awake: datetime | None = None
        self._closing = False
        self._drained = threading.Event()
        manual = source.qos > 0
        self.client = MqttClient(
            source.settings,
            kind="input",
            ctx=source.ctx,
            logger=log,
            manual_ack=manual,
            on_connected=self._subscribe,
            on_message=self._received,
        )
        self.client.receive_fast(self._received_frames)
        self.client.start()

    # -- network thread --------------------------------------------------------------------

    def _subscribe(self, client: Any, session_present: bool) -> None:
        if session_present and not self.source.clean_session:
            with self._lock:
                # the broker sends the unacknowledged ones again: skip the stale copies
                stale = self.client.generation - 1
                kept = [r for r in self._queue if r.qos == 0 or r.generation > stale]
                self._queue = deque(kept)
                self._not_full.notify_all()
            return
        qos = self.source.qos
        client.subscribe([(topic, qos) for topic in self.source.topics])

    def _received(self, message: Any) -> None:
        """A PUBLISH paho decoded (QoS 2, or a paho without the bulk frame path)."""
        self._received_frames([publish_of(message)])

    def _received_frames(self, frames: list[Publish]) -> None:
        """PUBLISH frames of one read, decoded in bulk."""
        queue = self._queue
        if len(queue) >= QUEUE_LIMIT:
            self._wait_for_room()
        generation = self.client.generation
        queue.extend([_Received(frame, generation) for frame in frames])

    def _wait_for_room(self) -> None:
        """Hold the network thread (and so the broker) while read() is behind."""
        stop = self.client.stop_event
        with self._not_full:
            self._full = True
            while len(self._queue) >= QUEUE_LIMIT and not stop.is_set():
                self._not_full.wait(0.1)
            self._full = False

    # -- worker thread ---------------------------------------------------------------------

    def read(self) -> list[Message] | None:
        now = time.monotonic()
        if self._replays and self._replays[0][0] <= now:
            _, records = self._replays.popleft()
            return self._emit(records)
        with self._lock:
            queue = self._queue
            n = min(len(queue), READ_BATCH)
            records = [queue.popleft() for _ in range(n)]
        if n and self._full:
            with self._not_full:
                self._not_full.notify_all()
        if not records:
            # nothing waits: asked again after Bytewax's own cooldown (about 1 ms)
            self._awake = None
            return []
        self._awake = None
        return self._emit(records)

    def _emit(self, records: list[_Received]) -> list[Message]:
        batch = [r.message() for r in records]
        if any(r.qos for r in records):
            with self._lock:
                self._pending[id(batch)] = records
        return batch

    def next_awake(self) -> datetime | None:
        if self._replays:
            due = self._replays[0][0] - time.monotonic()
            replay_at = datetime.now(timezone.utc) + timedelta(seconds=max(due, 0.0))
            if self._awake is None or replay_at < self._awake:
                return replay_at
        return self._awake

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            records = self._pending.pop(id(batch), None)
            drained = not self._pending
        if records:
            self._acknowledge(records, error)
        if drained and self._closing:
            self._drained.set()

    def _acknowledge(self, records: list[_Received], error: str | None) -> None:
        if error is not None:
            if self._closing:
                return  # left unacknowledged: the broker delivers them again
            if self.source.replay_nacks:
                delay = self._replay_backoff.next_delay()
                self._replays.append((time.monotonic() + delay, records))
                self._warn_nack(len(records), error, f"replaying in {delay:.1f}s")
                return
            self._warn_nack(len(records), error, "dropping them")
        else:
            self._replay_backoff.reset()
        self.client.acknowledge(records)

    def _warn_nack(self, n: int, error: str, action: str) -> None:
        now = time.monotonic()
        if now - self._nack_logged < 5.0:
            return
        self._nack_logged = now
        log.warning(
            "mqtt input %s: %d message(s) not acknowledged to the broker, the output failed "
            "(%s); %s",
            self.client.label,
            n,
            error,
            action,
            extra=self.client._fields(),
        )

    def close(self) -> None:
        """Stop reading; disconnect once batches still in the stream are acknowledged."""
        if self._closing:
            return
        self._closing = True
        self._replays.clear()
        with self._lock:
            busy = bool(self._pending)
        if not busy:
            self.client.close()
            return
        threading.Thread(
            target=self._close_when_drained, name=f"mqtt-close-{self.client.label}"
        ).start()

    def _close_when_drained(self) -> None:
        self._drained.wait(CLOSE_GRACE)
        self.client.close()
