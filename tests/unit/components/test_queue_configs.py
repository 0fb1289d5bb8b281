"""Redis, NATS and AMQP inputs and outputs: specs, lint of Benthos-shaped configs, and the
checks building them makes, without a network."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamforge.config import lint_paths
from streamforge.connectors.amqp import AmqpSettings
from streamforge.connectors.nats import NatsSettings
from streamforge.connectors.redis import RedisSettings, parse_urls
from streamforge.license.catalog import feature_of
from streamforge.outputs.redis_streams import metadata_value
from streamforge.plugin import registry
from streamforge.plugin.spec import offline_check_of


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def field_names(kind: str, name: str) -> set[str]:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None, name
    return {f.name for f in spec.fields}


REDIS = {"url", "kind", "master", "tls"}
NATS = {"urls", "tls", "auth"}


@pytest.mark.parametrize(
    ("kind", "name", "fields"),
    [
        ("input", "redis_list", REDIS | {"key", "auto_replay_nacks", "max_in_flight", "timeout",
                                         "command"}),
        ("output", "redis_list", REDIS | {"key", "max_in_flight", "batching", "command"}),
        ("input", "redis_streams", REDIS | {"body_key", "streams", "auto_replay_nacks", "limit",
                                            "client_id", "consumer_group", "create_streams",
                                            "start_from_oldest", "commit_period", "timeout"}),
        ("output", "redis_streams", REDIS | {"stream", "body_key", "max_length",
                                             "max_in_flight", "metadata", "batching"}),
        ("input", "redis_pubsub", REDIS | {"channels", "use_patterns"}),
        ("output", "redis_pubsub", REDIS | {"channel", "max_in_flight", "batching"}),
        ("output", "redis_hash", REDIS | {"key", "walk_metadata", "walk_json_object", "fields",
                                          "max_in_flight"}),
        ("input", "nats", NATS | {"subject", "queue", "nak_delay", "prefetch_count"}),
        ("output", "nats", NATS | {"subject", "headers", "metadata", "max_in_flight"}),
        ("input", "nats_jetstream", NATS | {"queue", "subject", "durable", "stream", "bind",
                                            "deliver", "ack_wait", "max_ack_pending"}),
        ("output", "nats_jetstream", NATS | {"subject", "headers", "metadata", "max_in_flight"}),
        ("input", "amqp_0_9", {"urls", "queue", "queue_declare", "bindings_declare",
                               "consumer_tag", "auto_ack", "nack_reject_patterns",
                               "prefetch_count", "prefetch_size", "tls"}),
        ("output", "amqp_0_9", {"urls", "exchange", "exchange_declare", "key", "type",
                                "content_type", "content_encoding", "correlation_id",
                                "reply_to", "expiration", "message_id", "user_id", "app_id",
                                "metadata", "priority", "max_in_flight", "persistent",
                                "mandatory", "immediate", "timeout", "tls"}),
    ],
)  # fmt: skip
def test_specs_use_benthos_field_names(kind: str, name: str, fields: set[str]) -> None:
    assert fields <= field_names(kind, name)


@pytest.mark.parametrize(
    ("kind", "name", "feature"),
    [
        ("input", "redis_streams", "redis"),
        ("output", "redis_hash", "redis"),
        ("input", "redis_list", "redis"),
        ("output", "redis_pubsub", "redis"),
        ("input", "nats", "nats"),
        ("output", "nats_jetstream", "nats"),
        ("input", "amqp_0_9", "amqp"),
        ("output", "amqp_0_9", "amqp"),
    ],
)
def test_each_component_needs_its_binding(kind: str, name: str, feature: str) -> None:
    assert ("bindings", feature) in feature_of(kind, name, {})


def test_benthos_shaped_configs_lint_clean(tmp_path: Path) -> None:
    configs = [
        """
        input:
          redis_streams:
            url: tcp://localhost:6379
            streams: [ benthos_stream ]
            body_key: body
            consumer_group: benthos_group
        output:
          redis_streams:
            url: redis://localhost:6379
            stream: ${! meta("target") }
            body_key: body
            max_length: 1000
            max_in_flight: 64
            metadata: { exclude_prefixes: [ kafka_ ] }
            batching: { count: 10, period: 1s }
        """,
        """
        input:
          redis_list:
            url: redis://:secret@localhost:6379/1
            key: queue
            command: brpop
            timeout: 2s
        output:
          redis_hash:
            url: redis://localhost:6379
            key: ${! @.id }
            walk_metadata: true
            walk_json_object: true
            fields:
              processed_at: ${! now() }
        """,
        """
        input:
          redis_pubsub:
            url: redis://localhost:6379
            kind: failover
            master: mymaster
            channels: [ plant.* ]
            use_patterns: true
        output:
          redis_list:
            url: redis://a:6379,redis://b:6379
            kind: cluster
            key: events
            command: lpush
        """,
        """
        input:
          nats_jetstream:
            urls: [ nats://127.0.0.1:4222 ]
            subject: plant.>
            durable: gateway
            deliver: last_per_subject
            ack_wait: 10s
            max_ack_pending: 500
        output:
          nats:
            urls: [ nats://127.0.0.1:4222 ]
            subject: plant.${! @asset }.out
            headers:
              Content-Type: application/json
            metadata:
              include_prefixes: [ asset ]
        """,
        """
        input:
          nats:
            urls: [ nats://127.0.0.1:4222 ]
            subject: foo.*
            queue: workers
        output:
          nats_jetstream:
            urls: [ nats://127.0.0.1:4222 ]
            subject: out.${! @nats_subject }
            max_in_flight: 256
        """,
        """
        input:
          amqp_0_9:
            urls: [ amqp://guest:guest@localhost:5672/ ]
            queue: benthos-queue
            queue_declare:
              enabled: true
              durable: true
              arguments: { x-queue-type: quorum }
            bindings_declare:
              - exchange: benthos-exchange
                key: benthos-key
            consumer_tag: benthos-consumer
            prefetch_count: 10
        output:
          amqp_0_9:
            urls: [ amqp://guest:guest@localhost:5672/ ]
            exchange: benthos-exchange
            exchange_declare:
              enabled: true
              type: topic
              durable: true
            key: benthos-key
            type: ${! @type }
            persistent: true
            metadata: { exclude_prefixes: [ kafka_ ] }
        """,
    ]
    for text in configs:
        assert lint(tmp_path, text) == [], text


def test_bad_choices_get_a_did_you_mean_at_their_position(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        input:
          redis_streams:
            url: redis://localhost:6379
            kind: clustr
            streams: [ s ]
        output:
          nats_jetstream:
            urls: [ nats://localhost:4222 ]
            subjct: x
        """,
    )
    assert any(p.startswith("s.yaml:4:") and "cluster" in p for p in problems), problems
    assert any(p.startswith("s.yaml:9:") and '"subject"' in p for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "name", "conf", "error"),
    [
        ("input", "redis_streams", {"url": "redis://h", "streams": []}, "at least one stream"),
        ("input", "redis_streams", {"url": "http://h", "streams": ["s"]}, "unsupported scheme"),
        ("input", "redis_list", {"url": "redis://h", "key": "k", "kind": "failover"},
         "needs the name of the Sentinel master"),
        ("output", "redis_list", {"url": "redis://a,redis://b", "key": "k"},
         "kind simple takes one URL"),
        ("output", "redis_streams", {"url": "redis://h/x", "stream": "s"},
         "must be a database number"),
        ("output", "redis_pubsub", {"url": "redis://h:99999", "channel": "c"}, "bad port"),
        ("input", "redis_pubsub", {"url": "redis://h", "channels": []}, "at least one channel"),
        ("output", "redis_hash", {"url": "redis://h", "key": "k"}, "set at least one field"),
        ("output", "redis_list", {"url": "redis://a:1/0,redis://b:2/3", "key": "k",
                                  "kind": "cluster"}, "only database 0"),
        ("input", "nats", {"urls": ["nats://h"], "subject": ""}, "subject"),
        ("input", "nats", {"urls": ["http://h"], "subject": "s"}, "unsupported scheme"),
        ("input", "nats_jetstream", {"urls": ["nats://h"]}, "a subject or a stream"),
        ("input", "nats_jetstream", {"urls": ["nats://h"], "subject": "s", "bind": True},
         "needs stream and durable"),
        ("input", "nats_jetstream", {"urls": ["nats://h"], "subject": "s", "deliver": "first"},
         "not one of all"),
        ("output", "nats", {"urls": ["nats://h"], "subject": "s",
                            "auth": {"user_jwt": "x"}}, "go together"),
        ("output", "nats", {"urls": ["nats://h"], "subject": "s",
                            "auth": {"nkey_file": "/nonexistent/seed"}}, "cannot read"),
        ("input", "amqp_0_9", {"urls": ["amqp://h"], "queue": ""}, "queue"),
        ("input", "amqp_0_9", {"urls": ["http://h"], "queue": "q"}, "not an amqp://"),
        ("input", "amqp_0_9", {"urls": ["amqp://h"], "queue": "q",
                               "bindings_declare": [{"key": "k"}]}, "an exchange is required"),
        ("output", "amqp_0_9", {"urls": ["amqp://h"], "exchange": "x-${! @a }",
                                "exchange_declare": {"enabled": True}},
         "only a fixed exchange name"),
        ("output", "amqp_0_9", {"urls": ["amqp://h"], "exchange": "x",
                                "exchange_declare": {"enabled": True, "type": "fan"}},
         "not one of direct"),
        ("output", "amqp_0_9", {"urls": ["amqps://h"], "exchange": "x",
                                "tls": {"enabled": True, "root_cas_file": "/nonexistent"}},
         "cannot load"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_before_connecting(
    kind: str, name: str, conf: dict[str, Any], error: str
) -> None:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None
    check = offline_check_of(spec.factory)
    assert check is not None
    with pytest.raises(ValueError, match=error):
        check(conf, None)  # type: ignore[arg-type]


def test_redis_urls_and_client_settings() -> None:
    [a] = parse_urls("redis://user:p%40ss@plant.local:6380/3")
    assert (a.host, a.port, a.db, a.username, a.password, a.tls) == (
        "plant.local", 6380, 3, "user", "p@ss", False,
    )  # fmt: skip
    [b] = parse_urls("tcp://:secret@localhost")
    assert (b.port, b.password, b.username) == (6379, "secret", None)
    assert parse_urls("rediss://h:1")[0].tls
    s = RedisSettings.from_conf({"url": "redis://a:1,redis://b:2", "kind": "cluster"})
    assert s.display == "cluster redis://a:1/0,redis://b:2/0"
    f = RedisSettings.from_conf({"url": "redis://s1:26379", "kind": "failover", "master": "m"})
    assert f.display == "m via sentinels redis://s1:26379/0"
    tls = RedisSettings.from_conf(
        {"url": "redis://h", "tls": {"enabled": True, "skip_cert_verify": True}}
    )
    assert tls._tls_kwargs() == {"ssl": True, "ssl_cert_reqs": "none", "ssl_check_hostname": False}
    assert RedisSettings.from_conf({"url": "redis://h"})._tls_kwargs() == {}


def test_clients_are_made_without_connecting() -> None:
    client = RedisSettings.from_conf({"url": "redis://127.0.0.1:1/2"}).client()
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 1, 2)
    client.close()


def test_nats_and_amqp_urls_hide_credentials() -> None:
    n = NatsSettings.from_conf({"urls": ["nats://u:p@h:4222", "tls://h2"]})
    assert n.display == "nats://h:4222,tls://h2"
    opts = n.connect_options()
    assert opts["servers"] == ["nats://u:p@h:4222", "nats://h2"]  # tls:// means TLS
    assert opts["tls"] is not None
    a = AmqpSettings.from_conf({"urls": ["amqp://guest:guest@h:5672/vhost"]})
    assert a.display == "amqp://h:5672/vhost"
    assert "ssl_context" not in a.connect_options(a.urls[0])
    assert "ssl_context" in a.connect_options("amqps://h/")


def test_stream_entry_values() -> None:
    assert metadata_value("x") == "x"
    assert metadata_value(3) == 3
    assert metadata_value(True) == b"true"
    assert metadata_value({"a": [1]}) == b'{"a":[1]}'
