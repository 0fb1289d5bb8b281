"""`mqtt` output: publishes each message; QoS 1/2 count as written once the broker confirmed.

A message is reported written only after the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2), or
once it was sent (QoS 0). At most `max_in_flight` publishes await confirmation at a time. While
the broker is away, a write waits up to `write_timeout` for the connection to come back; what
cannot be published in time is returned as failed with the reason (for `fallback` to route).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Any, NamedTuple

from streamforge.connectors.mqtt import MqttClient, MqttSettings, check_qos, connection_fields
from streamforge.connectors.tls import check_tls_files
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["MqttOutput", "check_mqtt_output", "parse_retained"]

log = logging.getLogger("streamforge.outputs.mqtt")

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
    max_in_flight = int(conf.get("max_in_flight", 64))
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
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
            default=64,
            description="Most publishes awaiting the broker's confirmation at a time.",
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
    """Publishes messages to an MQTT broker; topic and retain flag may be dynamic."""

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
        self._done: set[int] = set()
        self._abandoned: set[int] = set()
        self.client = MqttClient(settings, kind="output", ctx=ctx, logger=log)
        self.client.client.max_inflight_messages_set(self.max_in_flight)
        self.client.client.on_publish = self._published
        self.client.start()

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._cond:
            if mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            self._done.add(mid)
            self._cond.notify_all()

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        window: deque[tuple[Message, int, float]] = deque()
        down_reason: str | None = None
        for i, msg in enumerate(batch):
            try:
                topic = self.topic.render(msg, batch, i)
                retain = self._static_retain
                if retain is None:
                    retain = parse_retained(self.retained.render(msg, batch, i))
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
            while len(window) >= self.max_in_flight:
                self._confirm(window.popleft(), failed)
            try:
                info = self.client.client.publish(topic, msg.payload, qos=self.qos, retain=retain)
            except (ValueError, TypeError) as exc:
                msg.error = f"mqtt output: cannot publish to {topic!r}: {exc}"
                failed.append(msg)
                continue
            window.append((msg, info.mid, time.monotonic() + self.write_timeout))
        while window:
            self._confirm(window.popleft(), failed)
        return failed

    def _confirm(self, entry: tuple[Message, int, float], failed: list[Message]) -> None:
        """Wait for one publish to be confirmed; fail it when `write_timeout` passes."""
        msg, mid, deadline = entry
        with self._cond:
            while mid not in self._done:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._abandoned.add(mid)
                    state = "" if self.client.is_connected else f"; {self._down_reason()}"
                    msg.error = (
                        f"mqtt output {self.client.label}: no confirmation from the broker "
                        f"within write_timeout {self.write_timeout:g}s{state}"
                    )
                    failed.append(msg)
                    return
                self._cond.wait(min(left, 0.5))
            self._done.discard(mid)

    def _down_reason(self) -> str:
        conn = self.client.connection
        why = f" ({conn.last_error})" if conn.last_error else ""
        return (
            f"mqtt output {self.client.label}: not connected to {self.client.url.url}{why} "
            f"within write_timeout {self.write_timeout:g}s"
        )

    def close(self) -> None:
        self.client.close()
