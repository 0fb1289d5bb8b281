"""Sparkplug MQTT messages as StreamForge messages, one per metric, as benthos-umh emits them.

A BIRTH, DATA or CMD payload becomes one message per metric, `{"name", "alias", "value"}`,
with the `spb_*` metadata (group, edge node, device, message type, metric name, datatype,
sequence, timestamp, bdSeq ...) and the UMH names (`umh_location_path`, `umh_virtual_path`,
`umh_tag_name`, `umh_topic`). DATA names its metrics by the aliases the BIRTH declared; a
metric whose alias no BIRTH declared is named `alias_<n>` and flagged with an error. A DEATH
becomes a `DeviceOffline` event, a STATE a `StateChange` event. A payload that is not Sparkplug B
becomes one message holding the raw bytes, flagged with the reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from streamforge.connectors.sparkplug_mqtt import SparkplugTopic, parse_topic
from streamforge.connectors.sparkplug_proto import Metric, Payload, decode_payload
from streamforge.connectors.sparkplug_types import datatype_name, decode_value
from streamforge.inputs.sparkplug_b.sessions import AliasTable, SequenceCheck, Sessions
from streamforge.inputs.sparkplug_b.umh import (
    DATA_CONTRACT,
    location_path,
    sanitize,
    split_metric_name,
    umh_topic,
)
from streamforge.message import Message

__all__ = ["Decoded", "Rebirth", "SparkplugDecoder"]


@dataclass(frozen=True)
class Rebirth:
    """A rebirth the decoder asks for: the node, and why (discovery, sequence-gap,
    unresolved-aliases)."""

    topic: SparkplugTopic
    reason: str


@dataclass
class Decoded:
    """What one MQTT message became."""

    messages: list[Message] = field(default_factory=list)
    rebirths: list[Rebirth] = field(default_factory=list)
    #: warnings worth a log line (a sequence gap, a stale NDEATH)
    warnings: list[str] = field(default_factory=list)
    gap: bool = False
    unresolved: int = 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SparkplugDecoder:
    """Turns Sparkplug MQTT messages into StreamForge messages, keeping sessions and aliases."""

    def __init__(
        self,
        *,
        label: str = "sparkplug_b",
        include_edge_node: bool = False,
        requests_rebirths: bool = False,
        discovery_rebirths: bool = True,
    ) -> None:
        self.label = label
        self.include_edge_node = include_edge_node
        self.requests_rebirths = requests_rebirths
        self.discovery_rebirths = discovery_rebirths
        self.sessions = Sessions()

    def handle(self, topic_name: str, data: bytes) -> Decoded:
        """One MQTT message; topics that are not Sparkplug B give nothing."""
        topic = parse_topic(topic_name)
        out = Decoded()
        if topic is None:
            return out
        if topic.message_type == "STATE":
            out.messages.append(self._state(topic, topic_name, data))
            return out
        try:
            payload = decode_payload(data)
        except ValueError as exc:
            msg = Message(data, self._base_meta(topic, topic_name))
            msg.error = (
                f"sparkplug_b input {self.label}: the {topic.message_type} payload on "
                f"{topic_name} is not a Sparkplug B payload: {exc}"
            )
            out.messages.append(msg)
            return out
        kind = topic.message_type
        if kind in ("NBIRTH", "DBIRTH"):
            self._sequence(topic, self.sessions.birth(topic, payload), out)
        elif kind in ("NDATA", "DDATA"):
            self._sequence(topic, self.sessions.data(topic, payload), out)
        elif kind == "NDEATH":
            current, bdseq = self.sessions.node_death(topic, payload)
            if not current:
                session = self.sessions.node(topic)
                out.warnings.append(
                    f"ignoring a stale NDEATH of {topic.node_key}: its bdSeq {bdseq} is not "
                    f"the session's {session.bdseq}"
                )
                return out
            out.messages.append(self._death(topic, topic_name, bdseq))
            return out
        elif kind == "DDEATH":
            self._sequence(topic, self.sessions.data(topic, payload), out)
            self.sessions.device_death(topic)
            out.messages.append(self._death(topic, topic_name, None))
            return out
        out.messages.extend(self._metrics(topic, topic_name, payload, out))
        return out

    # -- sequence numbers and rebirths -------------------------------------------------------

    def _sequence(self, topic: SparkplugTopic, check: SequenceCheck, out: Decoded) -> None:
        if check.new_node and self.discovery_rebirths:
            out.rebirths.append(Rebirth(topic, "discovery"))
        if check.gap:
            out.gap = True
            out.warnings.append(
                f"sequence gap from {topic.node_key} ({topic.message_type}): expected "
                f"{check.expected}, got {check.got}"
            )
            out.rebirths.append(Rebirth(topic, "sequence-gap"))

    # -- messages ----------------------------------------------------------------------------

    def _base_meta(self, topic: SparkplugTopic, topic_name: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "spb_group_id": topic.group,
            "spb_edge_node_id": topic.edge_node,
            "spb_message_type": topic.message_type,
            "spb_device_key": topic.device_key,
            "spb_topic": topic_name,
            "spb_group_id_sanitized": sanitize(topic.group),
            "spb_edge_node_id_sanitized": sanitize(topic.edge_node),
            "spb_device_key_sanitized": sanitize(topic.device_key),
        }
        if topic.device:
            meta["spb_device_id"] = topic.device
            meta["spb_device_id_sanitized"] = sanitize(topic.device)
        return meta

    def _metrics(
        self, topic: SparkplugTopic, topic_name: str, payload: Payload, out: Decoded
    ) -> list[Message]:
        base = self._base_meta(topic, topic_name)
        session = self.sessions.nodes.get(topic.node_key)
        if payload.seq is not None:
            base["spb_sequence"] = str(payload.seq)
        if session is not None and session.bdseq is not None:
            base["spb_bdseq"] = str(session.bdseq)
        base["spb_metrics_in_payload"] = str(len(payload.metrics))
        location = location_path(
            topic.edge_node, topic.device, include_edge_node=self.include_edge_node
        )
        # commands name metrics by the aliases of the node they are sent to
        table = self.sessions.table(topic)
        messages: list[Message] = []
        unresolved: list[int] = []
        for index, metric in enumerate(payload.metrics):
            name, datatype = self._resolve(metric, table)
            meta = dict(base)
            value: dict[str, Any] = {}
            if name is not None:
                value["name"] = name
            if metric.alias:
                value["alias"] = metric.alias
            value["value"] = decode_value(metric, datatype)
            metric_name = name if name else f"alias_{metric.alias}"
            if name is None and metric.alias is None:
                metric_name = "unknown_metric"
            meta["spb_metric_name"] = metric_name
            meta["spb_metric_name_sanitized"] = sanitize(metric_name)
            meta["spb_metric_index"] = str(index)
            stamp = metric.timestamp if metric.timestamp is not None else payload.timestamp
            if stamp is not None:
                meta["spb_timestamp"] = str(stamp)
            if metric.alias is not None:
                meta["spb_alias"] = str(metric.alias)
            if datatype:
                meta["spb_datatype"] = datatype_name(datatype)
            if metric.is_historical is not None:
                meta["spb_is_historical"] = "true" if metric.is_historical else "false"
            if metric.is_transient:
                meta["spb_is_transient"] = "true"
            self._umh(meta, location, metric_name)
            msg = Message.from_value(value, meta)
            if name is None and metric.alias is not None:
                unresolved.append(metric.alias)
                msg.error = self._unresolved_error(topic, metric.alias)
            messages.append(msg)
        if unresolved:
            out.unresolved = len(unresolved)
            if topic.message_type in ("NDATA", "DDATA"):
                out.rebirths.append(Rebirth(topic, "unresolved-aliases"))
        return messages

    @staticmethod
    def _resolve(metric: Metric, table: AliasTable | None) -> tuple[str | None, int | None]:
        name = metric.name
        if name is None and metric.alias is not None and table is not None:
            name = table.names.get(metric.alias)
        datatype = metric.datatype
        if not datatype and name is not None and table is not None:
            datatype = table.datatypes.get(name)
        return name, datatype

    def _unresolved_error(self, topic: SparkplugTopic, alias: int) -> str:
        why = (
            "a rebirth is requested from the edge node"
            if self.requests_rebirths
            else "role secondary_passive does not request a rebirth"
        )
        return (
            f"sparkplug_b input {self.label}: {topic.message_type} from {topic.device_key} "
            f"names metric alias {alias}, which no BIRTH of the node's session declared ({why})"
        )

    @staticmethod
    def _umh(meta: dict[str, Any], location: str, metric_name: str) -> None:
        virtual, tag = split_metric_name(metric_name)
        if not location or not tag:
            meta["umh_conversion_status"] = "skipped_insufficient_data"
            return
        meta["umh_conversion_status"] = "success"
        meta["umh_location_path"] = location
        meta["umh_tag_name"] = tag
        meta["umh_data_contract"] = DATA_CONTRACT
        if virtual:
            meta["umh_virtual_path"] = virtual
        meta["umh_topic"] = umh_topic(location, virtual, tag)

    def _death(self, topic: SparkplugTopic, topic_name: str, bdseq: int | None) -> Message:
        event: dict[str, Any] = {
            "event": "DeviceOffline",
            "device_key": topic.device_key,
            "group_id": topic.group,
            "edge_node_id": topic.edge_node,
            "timestamp_ms": _now_ms(),
        }
        if topic.device:
            event["device_id"] = topic.device
        meta = self._base_meta(topic, topic_name)
        meta["event_type"] = "device_offline"
        if bdseq is not None:
            meta["spb_bdseq"] = str(bdseq)
        return Message.from_value(event, meta)

    def _state(self, topic: SparkplugTopic, topic_name: str, data: bytes) -> Message:
        """A host's STATE: Sparkplug 3.0's `{"online": bool, "timestamp": ms}` or the older
        `ONLINE`/`OFFLINE` text."""
        text = data.decode("utf-8", errors="replace").strip()
        state = text.upper()
        stamp = _now_ms()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "online" in doc:
            state = "ONLINE" if doc.get("online") is True else "OFFLINE"
            if isinstance(doc.get("timestamp"), int):
                stamp = doc["timestamp"]
        event = {
            "event": "StateChange",
            "host_id": topic.group,
            "state": state,
            "timestamp_ms": stamp,
        }
        meta = {
            "spb_message_type": "STATE",
            "spb_topic": topic_name,
            "spb_host_id": topic.group,
            "spb_state": state,
            "node_state": state,
            "event_type": "state_change",
        }
        return Message.from_value(event, meta)
