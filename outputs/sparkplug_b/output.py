"""`sparkplug_b` output: a Sparkplug B edge node on MQTT, with benthos-umh's fields.

On every connection it publishes an NBIRTH (bdSeq, `Node Control/Rebirth`, its node metrics)
and a DBIRTH for each device it knows; its MQTT will is the NDEATH with the connection's
bdSeq. Messages become NDATA/DDATA payloads naming metrics by alias, with sequence numbers
0..255 wrapping; a metric seen for the first time is announced by a new BIRTH carrying its
first value (a DBIRTH, or for node metrics a rebirth of the whole node). An NCMD
`Node Control/Rebirth` (or a DCMD `Device Control/Rebirth`) from a host publishes the BIRTHs
again. Births and deaths are retained, as benthos-umh publishes them.

Every worker of a stream's output shares one edge node (one MQTT session) per process.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from streamforge.connectors.mqtt import MqttClient, MqttSettings
from streamforge.connectors.sparkplug_mqtt import (
    check_id,
    identity_field,
    mqtt_field,
    mqtt_settings,
    parse_topic,
    qos_of,
    topic,
)
from streamforge.connectors.sparkplug_proto import Payload, decode_payload, encode_payload
from streamforge.connectors.sparkplug_types import CONFIG_TYPES, datatype_code, datatype_name
from streamforge.connectors.sparkplug_types import encode_value as encode
from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.outputs.sparkplug_b.node import DEVICE_REBIRTH, REBIRTH, EdgeNode, MetricDef
from streamforge.outputs.sparkplug_b.samples import (
    ConfiguredMetric,
    Sample,
    device_of,
    samples_of,
)
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["SparkplugOutput", "check_sparkplug_output"]

log = logging.getLogger("streamforge.outputs.sparkplug_b")

register_feature("output", "sparkplug_b", "bindings", "mqtt")

#: how long closing waits for the NDEATH to reach the broker
DEATH_WAIT = 2.0


class _Checked(NamedTuple):
    """A `sparkplug_b` output config as building it reads it."""

    settings: MqttSettings
    qos: int
    group: str
    edge_node: str
    device: str
    configured: dict[str, ConfiguredMetric]
    auto_extract_tag_name: bool
    retain_last_values: bool
    write_timeout: float


def _configured(entries: Iterable[Any]) -> dict[str, ConfiguredMetric]:
    out: dict[str, ConfiguredMetric] = {}
    aliases: dict[int, str] = {}
    for i, entry in enumerate(entries):
        entry = dict(entry or {})
        name = str(entry.get("name") or "")
        if not name:
            raise ValueError(f"metrics.{i}.name: a metric needs a name")
        if name in out:
            raise ValueError(f"metrics.{i}.name: {name!r} is configured twice")
        alias = entry.get("alias")
        if isinstance(alias, bool) or not isinstance(alias, int) or not 0 <= alias < 2**64:
            raise ValueError(f"metrics.{i}.alias: {alias!r} is not an alias (0 or more)")
        if alias in aliases:
            raise ValueError(f"metrics.{i}.alias: {alias} is also the alias of {aliases[alias]!r}")
        aliases[alias] = name
        type_name = str(entry.get("type") or "double").lower()
        if type_name not in CONFIG_TYPES:
            raise ValueError(f"metrics.{i}.type: {type_name!r} is not one of {CONFIG_TYPES}")
        value_from = str(entry.get("value_from") or "value")
        out[name] = ConfiguredMetric(name, alias, datatype_code(type_name), value_from)
    return out


def check_sparkplug_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> _Checked:
    """Every check building the output makes, without connecting."""
    identity = dict(conf.get("identity") or {})
    group = check_id(identity.get("group_id", ""), "identity.group_id")
    edge_node = check_id(identity.get("edge_node_id", ""), "identity.edge_node_id")
    device = check_id(identity.get("device_id", ""), "identity.device_id", required=False)
    role = str(conf.get("role") or "edge_node")
    if role != "edge_node":
        raise ValueError(f"role {role!r}: the output is an edge node (edge_node)")
    behaviour = dict(conf.get("behaviour") or {})
    write_timeout = parse_duration(conf.get("write_timeout", "10s"))
    if write_timeout <= 0:
        raise ValueError("write_timeout must be positive")
    return _Checked(
        settings=mqtt_settings(conf, f"streamforge-sparkplug-{edge_node}"),
        qos=qos_of(conf),
        group=group,
        edge_node=edge_node,
        device=device,
        configured=_configured(conf.get("metrics") or []),
        auto_extract_tag_name=bool(behaviour.get("auto_extract_tag_name", True)),
        retain_last_values=bool(behaviour.get("retain_last_values", True)),
        write_timeout=write_timeout,
    )


class _Session:
    """One edge node's MQTT session, shared by the workers of an output in this process."""

    def __init__(self, checked: _Checked, ctx: BuildContext | None) -> None:
        self.c = checked
        self.label = getattr(ctx, "label", "") or "sparkplug_b"
        self.node = EdgeNode(
            checked.configured,
            retain_last_values=checked.retain_last_values,
            bdseq=random.randrange(256),
            configured_device=checked.device,
        )
        self.lock = threading.RLock()
        self.ready = threading.Condition(self.lock)
        self.born_generation = 0
        self.users = 0
        self.client = MqttClient(
            checked.settings,
            kind="output",
            ctx=ctx,
            logger=log,
            on_connected=self._connected,
            on_message=self._command,
        )
        self._will_bdseq = self.node.bdseq
        self._set_will(self._will_bdseq)
        self.client.start()

    def topic(self, kind: str, device: str = "") -> str:
        if device:
            return topic(f"D{kind}", self.c.group, self.c.edge_node, device)
        return topic(f"N{kind}", self.c.group, self.c.edge_node)

    # -- network thread ----------------------------------------------------------------------

    def _set_will(self, bdseq: int) -> None:
        payload = encode_payload(self.node.ndeath(bdseq))
        self.client.client.will_set(self.topic("DEATH"), payload, qos=self.c.qos, retain=True)

    def _connected(self, client: Any, session_present: bool) -> None:
        client.subscribe([(self.topic("CMD"), self.c.qos), (self.topic("CMD", "+"), self.c.qos)])
        with self.lock:
            self.node.bdseq = self._will_bdseq
            self._births()
            self.born_generation = self.client.generation
            self.ready.notify_all()
        log.info(
            "sparkplug_b output %s: edge node %s/%s born (bdSeq %d)",
            self.label,
            self.c.group,
            self.c.edge_node,
            self.node.bdseq,
            extra=self.client._fields(),
        )
        # the next connection's will carries the next bdSeq, and so will its NBIRTH
        self._will_bdseq = (self.node.bdseq + 1) % 256
        self._set_will(self._will_bdseq)

    def _publish(self, where: str, payload: Payload, retain: bool = False) -> Any:
        return self.client.client.publish(where, encode_payload(payload), self.c.qos, retain)

    def _births(self) -> dict[str, Any]:
        """NBIRTH and a DBIRTH for every known device (lock held): device -> publish info."""
        infos = {"": self._publish(self.topic("BIRTH"), self.node.nbirth(), retain=True)}
        for device in self.node.known_devices():
            infos[device] = self._dbirth(device)
        return infos

    def _dbirth(self, device: str) -> Any:
        return self._publish(self.topic("BIRTH", device), self.node.dbirth(device), retain=True)

    def _command(self, message: Any) -> None:
        """An NCMD/DCMD: publish the BIRTHs again on a rebirth request."""
        parsed = parse_topic(message.topic)
        if parsed is None or parsed.message_type not in ("NCMD", "DCMD"):
            return
        try:
            payload = decode_payload(bytes(message.payload))
        except ValueError as exc:
            log.warning(
                "sparkplug_b output %s: ignoring a %s that is not a Sparkplug B payload: %s",
                self.label,
                parsed.message_type,
                exc,
                extra=self.client._fields(),
            )
            return
        with self.lock:
            for metric in payload.metrics:
                name = metric.name
                if name is None and metric.alias is not None:
                    name = self.node.alias_name(parsed.device, metric.alias)
                if metric.kind != "boolean_value" or metric.value is not True:
                    continue
                if parsed.message_type == "NCMD" and name == REBIRTH:
                    self._births()
                    log.info(
                        "sparkplug_b output %s: a host requested a rebirth; NBIRTH and %d "
                        "DBIRTH(s) published again",
                        self.label,
                        len(self.node.known_devices()),
                        extra=self.client._fields(),
                    )
                    return
                if parsed.message_type == "DCMD" and name == DEVICE_REBIRTH:
                    if parsed.device in self.node.devices:
                        self._dbirth(parsed.device)
                    return

    # -- worker threads ----------------------------------------------------------------------

    def _wait_ready(self, timeout: float) -> bool:
        """Wait until connected and born on the current connection."""
        deadline = time.monotonic() + timeout
        with self.ready:
            while not (self.client.is_connected and self.born_generation == self.client.generation):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.ready.wait(min(left, 0.1))
            return True

    def _down_reason(self) -> str:
        conn = self.client.connection
        why = f" ({conn.last_error})" if conn.last_error else ""
        return (
            f"sparkplug_b output {self.label}: not connected to {self.client.url.url}{why} "
            f"within write_timeout {self.c.write_timeout:g}s"
        )

    def write(self, batch: list[Message]) -> list[Message]:
        failed: dict[int, str] = {}
        extracted: list[tuple[int, str, list[Sample]]] = []
        for i, msg in enumerate(batch):
            try:
                device = device_of(msg, self.c.device)
                check_id(device, "device id (location_path)", required=False)
                extracted.append((i, device, samples_of(msg, self.c.configured,
                                                        self.c.auto_extract_tag_name)))  # fmt: skip
            except ValueError as exc:
                failed[i] = f"sparkplug_b output {self.label}: {exc}"
        if extracted and not self._wait_ready(self.c.write_timeout):
            reason = self._down_reason()
            for i, _, _ in extracted:
                failed[i] = reason
            extracted = []
        waits: dict[int, list[Any]] = {}
        if extracted:
            with self.lock:
                if self.born_generation != self.client.generation:
                    reason = self._down_reason()
                    for i, _, _ in extracted:
                        failed[i] = reason
                else:
                    waits = self._publish_batch(extracted, failed)
        self._confirm(batch, waits, failed)
        out = []
        for i, error in sorted(failed.items()):
            batch[i].error = error
            out.append(batch[i])
        return out

    def _publish_batch(
        self, extracted: list[tuple[int, str, list[Sample]]], failed: dict[int, str]
    ) -> dict[int, list[Any]]:
        """Births for new devices and metrics, then one DATA per device (lock held)."""
        node = self.node
        new_in: set[str] = set()
        born_with: dict[str, list[int]] = {}
        data: dict[str, list[tuple[int, MetricDef, str, Any, int | None]]] = {}
        for i, device, samples in extracted:
            pending: dict[str, MetricDef] = {}
            encoded: list[tuple[MetricDef, str, Any, int | None, bool]] = []
            for sample in samples:
                defn = node.get(device, sample.name) or pending.get(sample.name)
                new = defn is None
                if defn is None:
                    defn = node.new_def(device, sample)
                try:
                    kind, raw = encode(sample.value, defn.datatype)
                except ValueError as exc:
                    failed[i] = (
                        f"sparkplug_b output {self.label}: metric {sample.name!r} "
                        f"({datatype_name(defn.datatype)}): {exc}"
                    )
                    break
                if new:
                    pending[sample.name] = defn
                encoded.append((defn, kind, raw, sample.timestamp, new))
            if i in failed:
                continue
            data.setdefault(device, [])
            for defn in pending.values():
                node.add(defn, device)
                new_in.add(device)
            for defn, kind, raw, stamp, new in encoded:
                if new:
                    defn.remember(kind, raw, stamp if stamp is not None else _now_ms())
                    born_with.setdefault(device, []).append(i)
                else:
                    data[device].append((i, defn, kind, raw, stamp))
        waits: dict[int, list[Any]] = {}
        births: dict[str, Any] = {}
        if "" in new_in:
            births = self._births()
        for device in data:
            if device and device not in births and (device in new_in or device not in node.born):
                births[device] = self._dbirth(device)
        for device, indexes in born_with.items():
            for i in indexes:
                waits.setdefault(i, []).append(births[device])
        for device, items in data.items():
            if not items:
                continue
            payload = node.data([(defn, kind, raw, stamp) for _, defn, kind, raw, stamp in items])
            info = self._publish(self.topic("DATA", device), payload)
            for i, *_ in items:
                waits.setdefault(i, []).append(info)
        return waits

    def _confirm(
        self, batch: list[Message], waits: dict[int, list[Any]], failed: dict[int, str]
    ) -> None:
        """Wait for the broker's confirmations (QoS 1/2), up to write_timeout."""
        deadline = time.monotonic() + self.c.write_timeout
        for i, infos in waits.items():
            for info in infos:
                try:
                    info.wait_for_publish(max(deadline - time.monotonic(), 0.0))
                    done = info.is_published()
                except (RuntimeError, ValueError) as exc:
                    failed[i] = f"sparkplug_b output {self.label}: publishing failed: {exc}"
                    break
                if not done:
                    state = "" if self.client.is_connected else f"; {self._down_reason()}"
                    failed[i] = (
                        f"sparkplug_b output {self.label}: no confirmation from the broker "
                        f"within write_timeout {self.c.write_timeout:g}s{state}"
                    )
                    break

    def close(self) -> None:
        """Publish the NDEATH, then disconnect."""
        with self.lock:
            connected = self.client.is_connected
            info = None
            if connected:
                info = self._publish(self.topic("DEATH"), self.node.ndeath(), retain=True)
        if info is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(DEATH_WAIT)
        self.client.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_sessions: dict[tuple[str, str, str, str], _Session] = {}
_sessions_lock = threading.Lock()


def _session(
    checked: _Checked, ctx: BuildContext | None
) -> tuple[tuple[str, str, str, str], _Session]:
    key = (
        getattr(ctx, "stream", "") or "",
        getattr(ctx, "label", "") or "",
        checked.group,
        checked.edge_node,
    )
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = _Session(checked, ctx)
        session.users += 1
    return key, session


@register_output(
    "sparkplug_b",
    fields=[
        mqtt_field(),
        identity_field(
            Field(
                "edge_node_id",
                "string",
                description="The edge node's id, the same for the whole session.",
                examples=("Line3",),
            ),
            Field(
                "device_id",
                "string",
                default="",
                description="Publish every metric as this device's; when empty, the "
                "`location_path` metadata names the device (dots as colons), and messages "
                "without it are node metrics.",
            ),
        ),
        Field(
            "role",
            "string",
            default="edge_node",
            options=("edge_node",),
            description="The output is an edge node.",
            advanced=True,
        ),
        Field(
            "metrics",
            "array",
            default=[],
            description="Metrics declared up front: their aliases and types are fixed, and "
            "they are in the first BIRTH (null until they have a value).",
            item=Field(
                "metric",
                "object",
                fields=(
                    Field("name", "string", description="The metric's name."),
                    Field("alias", "int", description="Its alias."),
                    Field(
                        "type",
                        "string",
                        default="double",
                        options=CONFIG_TYPES,
                        description="Its Sparkplug datatype.",
                    ),
                    Field(
                        "value_from",
                        "string",
                        default="value",
                        description="The field of the JSON message holding its value.",
                    ),
                ),
            ),
        ),
        Field(
            "behaviour",
            "object",
            default={},
            description="How messages become metrics.",
            fields=(
                Field(
                    "auto_extract_tag_name",
                    "bool",
                    default=True,
                    description="Name metrics by the `tag_name` (and `virtual_path`) metadata.",
                ),
                Field(
                    "retain_last_values",
                    "bool",
                    default=True,
                    description="BIRTHs carry each metric's last value (null otherwise).",
                ),
            ),
        ),
        Field(
            "write_timeout",
            "duration",
            default="10s",
            advanced=True,
            description="How long a batch may wait for the connection and the broker's "
            "confirmations before its messages fail.",
        ),
    ],
    summary="Publishes messages as a Sparkplug B edge node: BIRTHs, DATA by alias, NDEATH.",
    description=(
        "Metric names come from the `tag_name`/`virtual_path` metadata (UMH-Core "
        '`{"value", "timestamp_ms"}` payloads), configured `metrics`, or the metadata of the '
        "`sparkplug_b` input; devices from `identity.device_id` or the `location_path` "
        "metadata. Types are the configured ones, else the sender's `spb_datatype`, else "
        "taken from the first value (Boolean, Int64, Double, String). See docs/sparkplug.md."
    ),
    examples=(
        "sparkplug_b:\n  mqtt:\n    urls: [ tcp://localhost:1883 ]\n  identity:\n"
        "    group_id: FactoryA\n    edge_node_id: Line3",
    ),
)
@offline_check(check_sparkplug_output)
class SparkplugOutput(Output):
    """A Sparkplug B edge node publishing the stream's messages as metrics."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        checked = check_sparkplug_output(conf, ctx)
        self._key, self.session = _session(checked, ctx)
        self._closed = False

    def write_batch(self, batch: list[Message]) -> list[Message]:
        return self.session.write(batch)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _sessions_lock:
            self.session.users -= 1
            last = self.session.users <= 0
            if last:
                _sessions.pop(self._key, None)
        if last:
            self.session.close()
