"""Redpanda Connect's top-level `redpanda:` section, shared by `redpanda_common` inputs and outputs.

The section holds the cluster connection once (`seed_brokers`, `client_id`, `tls`, `sasl`) and
the producer settings every `redpanda_common` output uses (`partitioner`, `compression`,
`idempotent_write`, `timeout`, `max_message_bytes`). A `redpanda_common` component reads it from
its build context and becomes a `redpanda` component with those settings filled in.
"""

from __future__ import annotations

import re
from typing import Any

from streamforge.connectors.redpanda import SASL, client_fields, kafka_client_conf
from streamforge.connectors.tls import check_tls_files
from streamforge.plugin import BuildContext, Field

__all__ = [
    "LOG_LEVELS",
    "SECTION",
    "brokers_here_or_shared",
    "byte_size",
    "check_section",
    "common_input_conf",
    "common_output_conf",
    "section_fields",
    "shared_section",
]

#: the top-level key of the section
SECTION = "redpanda"
LOG_LEVELS = ("debug", "info", "warn", "error")
#: Redpanda Connect partitioners ("" leaves the choice to the client: a hash of the key)
PARTITIONERS = ("", "murmur2_hash", "round_robin", "least_backup", "manual")
COMPRESSIONS = ("", "none", "snappy", "lz4", "gzip", "zstd")
#: the connection and producer fields a `redpanda_common` component takes from the section
CLIENT_KEYS = ("seed_brokers", "client_id", "tls", "sasl")
PRODUCER_KEYS = ("partitioner", "idempotent_write", "compression", "timeout", "max_message_bytes")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?\s*$", re.IGNORECASE)


def byte_size(value: Any, name: str) -> int:
    """Bytes in `1000`, `1MB` (10^6) or `1MiB` (2^20), as Redpanda Connect writes sizes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value))
    if m is None:
        raise ValueError(f"{name}: {value!r} is not a size such as 1000, 1MB or 1MiB")
    number, prefix, binary = m.groups()
    scale = 1
    if prefix:
        scale = (1024 if binary else 1000) ** ("kmgt".index(prefix.lower()) + 1)
    return int(float(number) * scale)


def _accepted(name: str, type_: str, default: Any) -> Field:
    return Field(name, type_, default=default, advanced=True, description="Accepted; not used.")


def section_fields() -> list[Field]:
    """The fields of the `redpanda:` section, as Redpanda Connect names them."""
    return [
        *client_fields(default_client_id="benthos"),
        _accepted("metadata_max_age", "duration", "5m"),
        _accepted("request_timeout_overhead", "duration", "10s"),
        _accepted("conn_idle_timeout", "duration", "20s"),
        _accepted("tcp", "map", {}),
        Field(
            "pipeline_id",
            "string",
            default="",
            description="An identifier of the pipeline (Redpanda Connect puts it on the logs "
            "and status updates it sends to topics).",
        ),
        Field(
            "logs_topic",
            "string",
            default="",
            description="Not supported: StreamForge's logs go where `logger` sends them; "
            "a topic here is refused.",
        ),
        Field(
            "logs_level",
            "string",
            default="info",
            options=LOG_LEVELS,
            advanced=True,
            description="The lowest level of logs sent to `logs_topic`.",
        ),
        Field(
            "status_topic",
            "string",
            default="",
            description="Not supported: the stream's status is served on `/ready` and its "
            "metrics; a topic here is refused.",
        ),
        _accepted("rack_id", "string", ""),
        Field(
            "partitioner",
            "string",
            default="",
            options=PARTITIONERS,
            advanced=True,
            description="How `redpanda_common` outputs choose a partition: empty or "
            "murmur2_hash hash the key, round_robin, least_backup (a random partition) or "
            "manual (the output's `partition`).",
        ),
        Field(
            "idempotent_write",
            "bool",
            default=True,
            advanced=True,
            description="Kafka's idempotent producer (waits for all in-sync replicas).",
        ),
        Field(
            "compression",
            "string",
            default="",
            options=COMPRESSIONS,
            advanced=True,
            description="Compression of produced batches (empty: none).",
        ),
        Field(
            "timeout",
            "duration",
            default="10s",
            advanced=True,
            description="How long a record may take to be delivered before it fails.",
        ),
        Field(
            "max_message_bytes",
            "any",
            default="1MB",
            advanced=True,
            description="The largest record: bytes, or a size such as 1MB or 1MiB.",
            examples=("1MB", "50MiB"),
        ),
        _accepted("broker_write_max_bytes", "any", "100MB"),
        _accepted("allow_auto_topic_creation", "bool", True),
    ]


def check_section(section: dict[str, Any]) -> tuple[str, str] | None:
    """The first value of a `redpanda:` section that cannot be used: (key, why), else None.

    The TLS files are loaded here, as the client loads them, so a missing one is reported at
    the section rather than at every component using it.
    """
    if not section.get("seed_brokers"):
        return "seed_brokers", "the brokers to connect to are required"
    for key, why in (
        ("logs_topic", "sending logs to a topic is not supported; logs go where `logger` "
                       "sends them"),
        ("status_topic", "sending status updates to a topic is not supported; the status is "
                         "on /ready and the metrics"),
    ):  # fmt: skip
        if str(section.get(key) or ""):
            return key, why
    try:
        byte_size(section.get("max_message_bytes", "1MB"), "max_message_bytes")
    except ValueError as exc:
        return "max_message_bytes", str(exc)
    try:
        kafka_client_conf(section)
    except ValueError as exc:
        return "sasl", f"{exc} (one of {', '.join(SASL)})"
    tls = section.get("tls") or {}
    if tls.get("enabled"):
        try:
            check_tls_files(tls)
        except ValueError as exc:
            return "tls", str(exc)
    return None


def shared_section(ctx: BuildContext | None, component: str) -> dict[str, Any]:
    """The stream's `redpanda:` section; a clear error when the config has none."""
    section = ctx.section(SECTION) if ctx is not None else None
    if section is None:
        raise ValueError(
            f"{component} takes its brokers from the top-level `{SECTION}:` section, and this "
            f"config has none: add `{SECTION}: {{ seed_brokers: [ host:9092 ] }}`"
        )
    return section


def brokers_here_or_shared(ctx: BuildContext | None, conf: dict[str, Any]) -> dict[str, Any]:
    """A `redpanda` component's config; without `seed_brokers` of its own, it connects as the
    top-level `redpanda:` section says (brokers, client id, TLS and SASL), as in Connect."""
    if conf.get("seed_brokers"):
        return conf
    section = ctx.section(SECTION) if ctx is not None else None
    if section is None:
        raise ValueError(
            f"seed_brokers: brokers are needed, here or in a top-level `{SECTION}:` section"
        )
    merged = dict(conf)
    merged.update({key: section[key] for key in CLIENT_KEYS if key in section})
    return merged


def common_input_conf(section: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """A `redpanda` input config: the section's connection with the component's consumer."""
    merged = {key: section[key] for key in CLIENT_KEYS if key in section}
    merged.update(conf)
    if conf.get("regexp_topics"):  # the topics are regular expressions
        merged["regexp_topics_include"] = [
            *(conf.get("regexp_topics_include") or []),
            *(conf.get("topics") or []),
        ]
        merged["topics"] = []
    oldest = conf.get("start_from_oldest")
    if oldest is False and str(conf.get("start_offset") or "earliest") == "earliest":
        merged["start_offset"] = "latest"
    return merged


def common_output_conf(section: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """A `redpanda` output config: the section's connection and producer settings with the
    component's topic, key, partition, metadata, max_in_flight and batching."""
    merged = {key: section[key] for key in CLIENT_KEYS if key in section}
    merged["partitioner"] = str(section.get("partitioner") or "murmur2_hash")
    merged["compression"] = str(section.get("compression") or "none")
    merged["idempotent_write"] = bool(section.get("idempotent_write", True))
    merged["timeout"] = section.get("timeout") or "10s"
    merged["max_message_bytes"] = byte_size(
        section.get("max_message_bytes", "1MB"), "max_message_bytes"
    )
    merged.update(conf)
    return merged
