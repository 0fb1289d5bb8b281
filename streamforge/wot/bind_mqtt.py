"""MQTT forms (`mqtt://`, `mqtts://`) -> one `td_mqtt` input per broker."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from streamforge.wot.forms import endpoint_of
from streamforge.wot.plan import BindingSettings, InputPlan, Reading
from streamforge.wot.problems import TdProblem

__all__ = ["plan_mqtt", "topic_of", "topics_of"]


def topics_of(reading: Reading) -> list[str]:
    """The topics to subscribe to for a reading: `mqv:filter`, else `mqv:topic`, else the
    href's path, percent-decoded (RFC 3986) and, when that differs, also as written.

    node-wot publishes to the path exactly as its href writes it: a Thing titled `Bench Meter`
    gets `mqtt://broker/Bench%20Meter/properties/voltage` and publishes to the topic
    `Bench%20Meter/properties/voltage`, not `Bench Meter/...`.
    """
    form = reading.form
    for term in ("filter", "topic"):
        value = form.term("mqtt", term)
        if isinstance(value, str) and value:
            return [value]
    written = urlsplit(form.href).path.lstrip("/")
    decoded = unquote(written)
    return [decoded] if decoded == written else [decoded, written]


def topic_of(reading: Reading) -> str:
    """The first of `topics_of`: the topic as a URI reader decodes it."""
    return topics_of(reading)[0]


def _qos(value: object) -> int | None:
    try:
        qos = int(str(value))
    except ValueError:
        return None
    return qos if qos in (0, 1, 2) else None


def _filter_regex(topic: str) -> str:
    parts = []
    for level in topic.split("/"):
        if level == "+":
            parts.append("[^/]*")
        elif level == "#":
            parts.append(".*")
        else:
            parts.append(re.escape(level))
    pattern = "/".join(parts).replace("/.*", "(/.*)?") if topic.endswith("#") else "/".join(parts)
    return f"^{pattern}$"


def plan_mqtt(readings: list[Reading], settings: BindingSettings) -> InputPlan:
    """Subscribe to every affordance's topic on one broker; the topic names the affordance."""
    plan = InputPlan(input={})
    brokers: dict[str, list[Reading]] = {}
    for r in readings:
        brokers.setdefault(endpoint_of(r.form.href), []).append(r)
    broker, chosen = next(iter(brokers.items()))
    for other, skipped in list(brokers.items())[1:]:
        names = ", ".join(r.affordance.name for r in skipped)
        plan.warnings.append(
            f"a stream reads one broker: {names} on {other} are left out (generate them "
            "with --property/--event)"
        )
    topics: list[str] = []
    qos_values: set[int] = set()
    for r in chosen:
        found = [t for t in topics_of(r) if t]
        if not found:
            plan.problems.append(
                TdProblem(r.form.path, "no MQTT topic: give mqv:filter, mqv:topic or a path")
            )
            continue
        qos = _qos(r.form.term("mqtt", "qos", 1))
        if qos is None:
            plan.problems.append(TdProblem(r.form.path, "mqv:qos must be 0, 1 or 2"))
        else:
            qos_values.add(qos)
        for topic in found:
            if topic not in topics:
                topics.append(topic)
            wildcard = "+" in topic.split("/") or "#" in topic.split("/")
            plan.routes.append(
                (_filter_regex(topic) if wildcard else topic, r.affordance.name, wildcard)
            )
        plan.readings.append(r)
    qos = max(qos_values) if qos_values else 1
    if len(qos_values) > 1:
        plan.warnings.append(f"the forms ask for different QoS; all topics use QoS {qos}")
    parts = urlsplit(broker)
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    use: dict[str, object] = {
        "broker": f"{parts.scheme}://{parts.hostname}:{port}",
        "topics": topics,
        "qos": qos,
        "client_id": f"streamforge-{settings.stream_id}",
    }
    if settings.auth.username:
        use["user"], use["password"] = settings.auth.username, settings.auth.password
    plan.input = {"td_mqtt": use}
    plan.key = "@mqtt_topic"
    return plan
