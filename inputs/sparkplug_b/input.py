"""`sparkplug_b` input: a Sparkplug B host application on MQTT, with benthos-umh's fields.

It subscribes to `spBv1.0/<group>/#` of its groups, decodes the protobuf payloads, resolves
metric aliases from BIRTH certificates and emits one message per metric (see `decoder`). Its
`role` decides how it talks back: `secondary_passive` never publishes; `secondary_active`
asks edge nodes for a rebirth (an NCMD `Node Control/Rebirth`) when it sees DATA of a node
whose BIRTH it missed, a sequence gap, or an alias no BIRTH declared; `primary` does the
same and announces itself on `spBv1.0/STATE/<host_id>` (Sparkplug 3.0's JSON), with an
offline STATE as its MQTT will. With QoS 1/2 an MQTT message is acknowledged only after every
message it became was written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.connectors.mqtt import MqttClient, MqttSettings
from streamforge.connectors.mqtt_frames import Publish, publish_of
from streamforge.connectors.sparkplug_mqtt import (
    NAMESPACE,
    SparkplugTopic,
    check_id,
    identity_field,
    mqtt_field,
    mqtt_settings,
    qos_of,
    topic,
)
from streamforge.connectors.sparkplug_proto import Metric, Payload, encode_payload
from streamforge.durations import parse_duration
from streamforge.inputs.sparkplug_b.decoder import Decoded, SparkplugDecoder
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import (
    BuildContext,
    Field,
    Input,
    InputReader,
    RateLimitedErrorLogger,
    register_input,
)
from streamforge.plugin.connection import Backoff

__all__ = ["ROLES", "SparkplugInput", "SparkplugReader"]

log = logging.getLogger("streamforge.inputs.sparkplug_b")

register_feature("input", "sparkplug_b", "bindings", "mqtt")

ROLES = ("secondary_passive", "secondary_active", "primary")
#: the role names of earlier benthos-umh releases -> the role they meant
LEGACY_ROLES = {
    "host": "secondary_passive",
    "primary_host": "primary",
    "hybrid": "primary",
    "edge_node": "secondary_active",
}
#: most MQTT messages one read() decodes
READ_BATCH = 500
#: MQTT messages held between the network thread and read()
QUEUE_LIMIT = 10_000
#: how long a closing input waits for the stream to acknowledge what it already read
CLOSE_GRACE = 5.0
REBIRTH_METRIC = "Node Control/Rebirth"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@register_input(
    "sparkplug_b",
    fields=[
        mqtt_field(),
        identity_field(
            Field(
                "edge_node_id",
                "string",
                default="",
                description="The `primary` role's host id (its STATE topic is "
                "`spBv1.0/STATE/<edge_node_id>`); other roles do not need it.",
                examples=("PrimaryHost",),
            ),
            Field(
                "device_id",
                "string",
                default="",
                description="Accepted for benthos-umh compatibility; the input reads every "
                "device of its groups.",
                advanced=True,
            ),
        ),
        Field(
            "role",
            "string",
            default="secondary_passive",
            options=(*ROLES, *LEGACY_ROLES),
            description="`secondary_passive` only listens; `secondary_active` also requests "
            "rebirths; `primary` also publishes its STATE as the primary host. Earlier "
            "benthos-umh names are read as these: `host` (secondary_passive), "
            "`primary_host` and `hybrid` (primary), `edge_node` (secondary_active).",
        ),
        Field(
            "request_birth_on_connect",
            "bool",
            default=True,
            description="Request a rebirth when DATA arrives from a node whose BIRTH this "
            "input has not seen (e.g. after it started). Not with `secondary_passive`.",
        ),
        Field(
            "birth_request_throttle",
            "duration",
            default="1s",
            description="Least time between two rebirth requests to the same node, whatever "
            "their reason; 0 sends every one.",
        ),
        Field(
            "include_edge_node_in_location",
            "bool",
            default=False,
            advanced=True,
            description="Put device data under its edge node: `umh_location_path` becomes "
            "`<edge_node>.<device>` instead of the device id alone.",
        ),
        Field(
            "subscription",
            "object",
            default={},
            description="What to subscribe to.",
            fields=(
                Field(
                    "groups",
                    "array",
                    default=[],
                    item=Field("group", "string"),
                    description="Groups to subscribe to; empty means `identity.group_id`, "
                    '`["+"]` every group.',
                    examples=(["FactoryA", "FactoryB"], ["+"]),
                ),
            ),
        ),
    ],
    summary="Reads Sparkplug B over MQTT as a host: one message per metric, aliases resolved.",
    description=(
        "Each metric of a BIRTH, DATA or command payload becomes a message "
        '`{"name", "alias", "value"}` with metadata `spb_group_id`, `spb_edge_node_id`, '
        "`spb_device_id`, `spb_message_type`, `spb_metric_name`, `spb_datatype`, "
        "`spb_sequence`, `spb_timestamp`, `spb_bdseq`, `spb_alias`, `spb_device_key`, "
        "`spb_topic` and the UMH names `umh_location_path`, `umh_virtual_path`, "
        "`umh_tag_name`, `umh_topic`. Deaths and host STATEs become events. A metric whose "
        "alias no BIRTH declared is named `alias_<n>` and flagged with an error. See "
        "docs/sparkplug.md."
    ),
    examples=(
        "sparkplug_b:\n  mqtt:\n    urls: [ tcp://localhost:1883 ]\n  identity:\n"
        "    group_id: FactoryA\n  role: secondary_active",
    ),
)
class SparkplugInput(Input):
    """A Sparkplug B host application reading the metrics of edge nodes."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        identity = dict(conf.get("identity") or {})
        self.group_id = check_id(identity.get("group_id", ""), "identity.group_id")
        self.host_id = check_id(
            identity.get("edge_node_id", ""), "identity.edge_node_id", required=False
        )
        role = str(conf.get("role") or "secondary_passive")
        self.role = LEGACY_ROLES.get(role, role)
        if self.role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if self.role == "primary" and not self.host_id:
            raise ValueError(
                "role primary needs identity.edge_node_id: it is the host id of the STATE "
                "topic spBv1.0/STATE/<edge_node_id>"
            )
        self.qos = qos_of(conf)
        self.settings: MqttSettings = mqtt_settings(conf, "streamforge-sparkplug-host")
        self.request_birth = bool(conf.get("request_birth_on_connect", True))
        self.throttle = parse_duration(conf.get("birth_request_throttle", "1s"))
        if self.throttle < 0:
            raise ValueError("birth_request_throttle must not be negative")
        self.include_edge_node = bool(conf.get("include_edge_node_in_location", False))
        groups = [str(g) for g in (conf.get("subscription") or {}).get("groups") or []]
        for group in groups:
            if group != "+":
                check_id(group, "subscription.groups item")
        self.topics = [f"{NAMESPACE}/{g}/#" for g in (groups or [self.group_id])]
        if "+" in groups:
            self.topics = [f"{NAMESPACE}/+/#"]
        self.ctx = ctx

    @property
    def state_topic(self) -> str:
        return f"{NAMESPACE}/STATE/{self.host_id}"

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return SparkplugReader(self)


class _Received:
    """An MQTT message as the broker delivered it, and the connection it came on."""

    __slots__ = ("generation", "mid", "payload", "qos", "topic")

    def __init__(self, frame: Publish, generation: int) -> None:
        self.topic, self.qos, _, _, self.mid, self.payload = frame
        self.generation = generation


class SparkplugReader(InputReader):
    """The one partition of a `sparkplug_b` input: one MQTT client, one host session."""

    def __init__(self, source: SparkplugInput) -> None:
        self.source = source
        ctx = source.ctx
        self.label = getattr(ctx, "label", "") or "sparkplug_b"
        self.decoder = SparkplugDecoder(
            label=self.label,
            include_edge_node=source.include_edge_node,
            requests_rebirths=source.role != "secondary_passive",
            discovery_rebirths=source.request_birth,
        )
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._queue: deque[_Received] = deque()
        self._pending: dict[int, tuple[list[_Received], list[Message]]] = {}
        self._replays: deque[tuple[float, list[_Received], list[Message]]] = deque()
        self._replay_backoff = Backoff(initial=0.5, maximum=10.0)
        self._rebirth_at: dict[str, float] = {}
        self._awake: datetime | None = None
        self._closing = False
        self._drained = threading.Event()
        metrics = getattr(ctx, "metrics", None)
        self._rebirths = self._gaps = self._unresolved = None
        if metrics is not None:
            self._rebirths = metrics.counter(
                "sparkplug_rebirths_requested", "Rebirths a Sparkplug host requested"
            )
            self._gaps = metrics.counter(
                "sparkplug_sequence_gaps", "Sequence number gaps a Sparkplug host saw"
            )
            self._unresolved = metrics.counter(
                "sparkplug_unresolved_aliases", "Metrics named by an alias no BIRTH declared"
            )
        self._bad = RateLimitedErrorLogger(
            log, getattr(ctx, "stream", "") or "stream", self.label, "message not readable"
        )
        self.client = MqttClient(
            source.settings,
            kind="input",
            ctx=ctx,
            logger=log,
            manual_ack=source.qos > 0,
            on_connected=self._connected,
            on_message=self._received,
        )
        self._state_stamp = self._online_stamp = _now_ms()
        if source.role == "primary":
            self._set_state_will(self._state_stamp)
        self.client.receive_fast(self._received_frames)
        self.client.start()

    # -- network thread --------------------------------------------------------------------

    def _state(self, online: bool, stamp: int) -> bytes:
        return json.dumps({"online": online, "timestamp": stamp}).encode()

    def _set_state_will(self, stamp: int) -> None:
        self.client.client.will_set(
            self.source.state_topic, self._state(False, stamp), qos=1, retain=True
        )

    def _connected(self, client: Any, session_present: bool) -> None:
        source = self.source
        client.subscribe([(t, source.qos) for t in source.topics])
        log.info(
            "sparkplug_b input %s: %s host subscribed to %s",
            self.label,
            source.role,
            ", ".join(source.topics),
            extra=self.client._fields(),
        )
        if source.role == "primary":
            stamp = self._online_stamp = self._state_stamp
            client.publish(source.state_topic, self._state(True, stamp), qos=1, retain=True)
            # the will of the next connection carries the timestamp of its own birth
            self._state_stamp = max(_now_ms(), stamp + 1)
            self._set_state_will(self._state_stamp)

    def _received(self, message: Any) -> None:
        self._received_frames([publish_of(message)])

    def _received_frames(self, frames: list[Publish]) -> None:
        queue = self._queue
        if len(queue) >= QUEUE_LIMIT:
            stop = self.client.stop_event
            with self._not_full:
                while len(queue) >= QUEUE_LIMIT and not stop.is_set():
                    self._not_full.wait(0.1)
        generation = self.client.generation
        queue.extend([_Received(frame, generation) for frame in frames])

    # -- worker thread ---------------------------------------------------------------------

    def read(self) -> list[Message] | None:
        if self._replays and self._replays[0][0] <= time.monotonic():
            _, records, saved = self._replays.popleft()
            again = [m.copy() for m in saved]
            with self._lock:
                self._pending[id(again)] = (records, saved)
            return again
        with self._lock:
            n = min(len(self._queue), READ_BATCH)
            records = [self._queue.popleft() for _ in range(n)]
            self._not_full.notify_all()
        self._awake = None
        if not records:
            return []
        batch: list[Message] = []
        for record in records:
            batch.extend(self._decode(record))
        acked = [r for r in records if r.qos]
        if not batch:
            self.client.acknowledge(acked)
            return []
        if acked:
            with self._lock:
                self._pending[id(batch)] = (acked, [m.copy() for m in batch])
        return batch

    def _decode(self, record: _Received) -> list[Message]:
        try:
            decoded = self.decoder.handle(record.topic, record.payload)
        except Exception as exc:  # noqa: BLE001 - one bad message never stops the input
            msg = Message(record.payload, {"spb_topic": record.topic})
            msg.error = f"sparkplug_b input {self.label}: cannot read {record.topic}: {exc}"
            decoded = Decoded(messages=[msg])
        self._report(decoded)
        return decoded.messages

    def _report(self, decoded: Decoded) -> None:
        for warning in decoded.warnings:
            log.warning(
                "sparkplug_b input %s: %s", self.label, warning, extra=self.client._fields()
            )
        if decoded.gap and self._gaps is not None:
            self._gaps.inc()
        if decoded.unresolved and self._unresolved is not None:
            self._unresolved.inc(decoded.unresolved)
        failed = [m for m in decoded.messages if m.error is not None]
        if failed:
            self._bad.report(len(failed), failed[0])
        for rebirth in decoded.rebirths:
            self._request_rebirth(rebirth.topic, rebirth.reason)

    def _request_rebirth(self, node: SparkplugTopic, reason: str) -> None:
        """Publish an NCMD `Node Control/Rebirth` (active roles), at most one per throttle."""
        if self.source.role == "secondary_passive":
            return
        now = time.monotonic()
        last = self._rebirth_at.get(node.node_key)
        throttle = self.source.throttle
        if throttle > 0 and last is not None and now - last < throttle:
            return
        self._rebirth_at[node.node_key] = now
        payload = Payload(
            timestamp=_now_ms(),
            metrics=[Metric(name=REBIRTH_METRIC, datatype=11, kind="boolean_value", value=True)],
        )
        where = topic("NCMD", node.group, node.edge_node)
        self.client.client.publish(where, encode_payload(payload), qos=self.source.qos)
        if self._rebirths is not None:
            self._rebirths.inc()
        log.info(
            "sparkplug_b input %s: requested a rebirth of %s (%s) on %s",
            self.label,
            node.node_key,
            reason,
            where,
            extra=self.client._fields(),
        )

    def next_awake(self) -> datetime | None:
        if self._replays:
            due = self._replays[0][0] - time.monotonic()
            return datetime.now(timezone.utc) + timedelta(seconds=max(due, 0.0))
        return self._awake

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            entry = self._pending.pop(id(batch), None)
            drained = not self._pending
        if entry is not None:
            records, saved = entry
            if error is None:
                self._replay_backoff.reset()
                self.client.acknowledge(records)
            elif not self._closing:
                delay = self._replay_backoff.next_delay()
                self._replays.append((time.monotonic() + delay, records, saved))
                log.warning(
                    "sparkplug_b input %s: %d message(s) not acknowledged to the broker, the "
                    "output failed (%s); replaying in %.1fs",
                    self.label,
                    len(saved),
                    error,
                    delay,
                    extra=self.client._fields(),
                )
        if drained and self._closing:
            self._drained.set()

    def close(self) -> None:
        """Stop reading; a primary host says it goes offline; disconnect once batches still
        in the stream are acknowledged."""
        if self._closing:
            return
        self._closing = True
        self._replays.clear()
        if self.source.role == "primary" and self.client.is_connected:
            info = self.client.client.publish(
                self.source.state_topic,
                self._state(False, self._online_stamp),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        with self._lock:
            busy = bool(self._pending)
        if not busy:
            self.client.close()
            return
        threading.Thread(target=self._close_when_drained, name=f"spb-close-{self.label}").start()

    def _close_when_drained(self) -> None:
        self._drained.wait(CLOSE_GRACE)
        self.client.close()
