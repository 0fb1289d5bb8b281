"""Kafka forms (`kafka://broker:port/topic`) -> a `td_kafka` input; the topic names the
affordance."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from streamforge.wot.plan import BindingSettings, InputPlan, Reading
from streamforge.wot.problems import TdProblem

__all__ = ["plan_kafka"]


def plan_kafka(readings: list[Reading], settings: BindingSettings) -> InputPlan:
    """Consume the affordances' topics with a consumer group named after the Thing."""
    plan = InputPlan(input={})
    brokers: dict[str, list[Reading]] = {}
    for r in readings:
        parts = urlsplit(r.form.href)
        brokers.setdefault(f"{parts.hostname}:{parts.port or 9092}", []).append(r)
    broker, chosen = next(iter(brokers.items()))
    for other, skipped in list(brokers.items())[1:]:
        names = ", ".join(r.affordance.name for r in skipped)
        plan.warnings.append(f"a stream reads one Kafka cluster: {names} on {other} are left out")
    topics: list[str] = []
    for r in chosen:
        topic = unquote(urlsplit(r.form.href).path.strip("/"))
        if not topic or "/" in topic:
            plan.problems.append(
                TdProblem(f"{r.form.path}.href", "a Kafka href is kafka://host:port/topic")
            )
            continue
        if topic in topics:
            first = next(name for value, name, _ in plan.routes if value == topic)
            plan.warnings.append(
                f"topic {topic} is named for several affordances; its records are {first}'s"
            )
            continue
        topics.append(topic)
        plan.routes.append((topic, r.affordance.name, False))
        plan.readings.append(r)
    use: dict[str, object] = {
        "brokers": [broker],
        "topics": topics,
        "consumer_group": settings.stream_id,
    }
    if settings.auth.username:
        use["sasl_mechanism"] = settings.auth.kafka_mechanism
        use["user"], use["password"] = settings.auth.username, settings.auth.password
    plan.input = {"td_kafka": use}
    plan.key = "@kafka_topic"
    return plan
