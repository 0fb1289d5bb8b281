"""What the `sparkplug_b` input and output share: the `mqtt` and `identity` config sections as
benthos-umh names them, Sparkplug topics, and the MQTT settings of the shared client.

Topics: `spBv1.0/<group_id>/<NBIRTH|NDATA|NDEATH|NCMD>/<edge_node_id>`,
`spBv1.0/<group_id>/<DBIRTH|DDATA|DDEATH|DCMD>/<edge_node_id>/<device_id>` and the host's
`spBv1.0/STATE/<host_id>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streamforge.connectors.mqtt import MqttSettings, check_qos, nanoid
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.durations import parse_duration
from streamforge.plugin import Field

__all__ = [
    "NAMESPACE",
    "NODE_TYPES",
    "DEVICE_TYPES",
    "SparkplugTopic",
    "check_id",
    "identity_field",
    "mqtt_field",
    "mqtt_settings",
    "parse_topic",
    "qos_of",
    "topic",
]

NAMESPACE = "spBv1.0"
NODE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDEATH", "DDATA", "DCMD")


@dataclass(frozen=True)
class SparkplugTopic:
    """A parsed Sparkplug topic; `group` is the host id for STATE."""

    message_type: str
    group: str
    edge_node: str = ""
    device: str = ""

    @property
    def node_key(self) -> str:
        """`group/edge_node`: sequence numbers and bdSeq belong to the edge node."""
        return f"{self.group}/{self.edge_node}"

    @property
    def device_key(self) -> str:
        """`group/edge_node` or `group/edge_node/device`: aliases belong to the sender."""
        return f"{self.node_key}/{self.device}" if self.device else self.node_key


def parse_topic(name: str) -> SparkplugTopic | None:
    """The parts of a Sparkplug B topic; None for any other topic."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE:
        return None
    if parts[1] == "STATE":
        return SparkplugTopic("STATE", "/".join(parts[2:])) if len(parts) >= 3 else None
    group, message_type = parts[1], parts[2]
    if message_type in NODE_TYPES and len(parts) == 4:
        return SparkplugTopic(message_type, group, parts[3])
    if message_type in DEVICE_TYPES and len(parts) == 5:
        return SparkplugTopic(message_type, group, parts[3], parts[4])
    return None


def topic(message_type: str, group: str, edge_node: str, device: str = "") -> str:
    """The topic of a node message, or of a device message when `device` is given."""
    base = f"{NAMESPACE}/{group}/{message_type}/{edge_node}"
    return f"{base}/{device}" if device else base


def check_id(value: str, name: str, *, required: bool = True) -> str:
    """A Sparkplug id (group, edge node, device): MQTT topic level characters only."""
    text = str(value or "")
    if not text:
        if required:
            raise ValueError(f"{name} is required")
        return text
    bad = sorted({c for c in text if c in "/+#"})
    if bad:
        raise ValueError(f"{name} {text!r}: may not contain {' '.join(bad)}")
    return text


def mqtt_field(client_id_default: str = "") -> Field:
    """The `mqtt` section (benthos-umh's names), with StreamForge's `tls` added."""
    return Field(
        "mqtt",
        "object",
        description="The MQTT connection.",
        fields=(
            Field(
                "urls",
                "array",
                default=["tcp://localhost:1883"],
                item=Field("url", "string"),
                description="Brokers to connect to (tried in turn on failure): tcp://, "
                "ssl://, ws:// or wss://.",
                examples=(["tcp://localhost:1883"],),
            ),
            Field(
                "client_id",
                "string",
                default=client_id_default,
                description="MQTT client identifier; when empty a unique one is generated.",
            ),
            Field(
                "credentials",
                "object",
                default={},
                description="User name and password.",
                fields=(
                    Field("username", "string", default="", description="User name."),
                    Field("password", "string", default="", description="Password.", secret=True),
                ),
            ),
            Field(
                "qos",
                "int",
                default=1,
                description="QoS of subscriptions and publishes (0, 1 or 2).",
                examples=(0, 1, 2),
            ),
            Field(
                "keep_alive",
                "duration",
                default="60s",
                description="Keep-alive interval; a silent broker counts as lost.",
            ),
            Field(
                "connect_timeout",
                "duration",
                default="30s",
                description="How long one connection attempt may take.",
            ),
            Field(
                "clean_session",
                "bool",
                default=True,
                description="Start a new session on every connection.",
            ),
            tls_field("TLS settings; also enabled by ssl:// and wss:// URLs.", default={}),
        ),
    )


def identity_field(*fields: Field) -> Field:
    """The `identity` section: `group_id` and the given fields."""
    return Field(
        "identity",
        "object",
        description="Who this client is in Sparkplug.",
        fields=(
            Field(
                "group_id",
                "string",
                description="Sparkplug group ID.",
                examples=("FactoryA",),
            ),
            *fields,
        ),
    )


def mqtt_settings(conf: dict[str, Any], default_prefix: str) -> MqttSettings:
    """Check the `mqtt` section and make the client's settings; ValueError names the field."""
    mqtt = dict(conf.get("mqtt") or {})
    credentials = dict(mqtt.get("credentials") or {})
    keep_alive = parse_duration(mqtt.get("keep_alive", "60s"))
    if keep_alive < 0 or keep_alive > 65535:
        raise ValueError("mqtt.keep_alive must be between 0s and 65535s")
    clean_session = bool(mqtt.get("clean_session", True))
    client_id = str(mqtt.get("client_id") or "")
    if not client_id:
        if not clean_session:
            raise ValueError("mqtt.clean_session: false needs a fixed mqtt.client_id")
        client_id = f"{default_prefix}-{nanoid(12)}"
    try:
        settings = MqttSettings.from_conf(
            {
                "urls": mqtt.get("urls") or ["tcp://localhost:1883"],
                "client_id": client_id,
                "connect_timeout": mqtt.get("connect_timeout", "30s"),
                "keepalive": math.ceil(keep_alive),
                "user": credentials.get("username") or "",
                "password": credentials.get("password") or "",
                "tls": mqtt.get("tls") or {},
            },
            clean_session=clean_session,
        )
    except ValueError as exc:
        raise ValueError(f"mqtt.{exc}") from None
    if settings.use_tls:
        try:
            check_tls_files(settings.tls)
            settings.ssl_context()
        except ValueError as exc:
            raise ValueError(f"mqtt.{exc}") from None
    return settings


def qos_of(conf: dict[str, Any]) -> int:
    """`mqtt.qos`, checked."""
    return check_qos((conf.get("mqtt") or {}).get("qos", 1), "mqtt.qos")
