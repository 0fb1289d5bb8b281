"""`schema_registry_encode` / `schema_registry_decode` against a test schema registry server.

The server (tests/integration/peers/schema_registry.py) follows Confluent's REST API; byte
compatibility is checked both ways with confluent-kafka's own AvroSerializer / AvroDeserializer.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from peers.schema_registry import TestSchemaRegistry
from peers.stream_run import Run, out_lines, write

from streamforge.message import Message
from streamforge.plugin import load_builtins, registry

QUALITY = {"type": "enum", "name": "Quality", "symbols": ["GOOD", "SUSPECT", "UNCERTAIN", "BAD"]}
#: the telemetry envelope, times as RFC 3339 strings
ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "io.streamforge",
    "fields": [
        {"name": "asset_id", "type": "string"},
        {"name": "parameter", "type": "string"},
        {"name": "value", "type": ["null", "double", "long", "boolean", "string"]},
        {"name": "unit", "type": ["null", "string"], "default": None},
        {"name": "quality", "type": QUALITY},
        {
            "name": "timestamps",
            "type": {
                "type": "record",
                "name": "Timestamps",
                "fields": [
                    {"name": "device_time", "type": "string"},
                    {"name": "gateway_time", "type": "string"},
                ],
            },
        },
        {"name": "metadata", "type": {"type": "map", "values": "string"}, "default": {}},
    ],
}
#: a reading with logical types: timestamp-micros, decimal, a nullable timestamp-millis
READING = {
    "type": "record",
    "name": "Reading",
    "fields": [
        {"name": "tag", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {
            "name": "acked",
            "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
            "default": None,
        },
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3},
        },
    ],
}


def envelope(n: int, **changes: Any) -> dict[str, Any]:
    doc = {
        "asset_id": f"boiler-{n % 3}",
        "parameter": "temperature",
        "value": 20.0 + n / 4,
        "unit": "degC",
        "quality": "GOOD",
        "timestamps": {
            "device_time": f"2024-05-01T12:00:{n % 60:02d}.123456789Z",
            "gateway_time": f"2024-05-01T12:00:{n % 60:02d}.2Z",
        },
        "metadata": {"adapter_id": "line-1"},
    }
    doc.update(changes)
    return doc


def processor(name: str, conf: dict[str, Any]) -> Any:
    load_builtins()
    spec = registry.get("processor", name)
    assert spec is not None
    return spec.factory(conf, None)  # type: ignore[arg-type]


def encoder(reg: TestSchemaRegistry, cache: Path, **conf: Any) -> Any:
    base = {"url": reg.url, "subject": "telemetry-value", "avro_raw_json": True}
    return processor("schema_registry_encode", {**base, "cache_dir": str(cache), **conf})


def decoder(reg: TestSchemaRegistry, cache: Path, **conf: Any) -> Any:
    base = {"url": reg.url, "avro_raw_json": True, "cache_dir": str(cache)}
    return processor("schema_registry_decode", {**base, **conf})


def encode(proc: Any, docs: list[Any], **meta: Any) -> list[Message]:
    return proc.process_batch([Message.from_value(d, dict(meta)) for d in docs])  # type: ignore[no-any-return]


def decode(proc: Any, payloads: list[bytes]) -> list[Message]:
    return proc.process_batch([Message(p) for p in payloads])  # type: ignore[no-any-return]


# -- round trips ---------------------------------------------------------------------------------


def test_encode_then_decode_gives_the_documents_back(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_id = schema_registry.register("telemetry-value", ENVELOPE)
    docs = [envelope(n) for n in range(200)] + [envelope(7, value=None, unit=None)]
    docs += [envelope(8, value=True), envelope(9, value=42), envelope(10, value="open")]

    encoded = encode(encoder(schema_registry, tmp_path / "enc"), docs)
    assert [m.error for m in encoded] == [None] * len(docs)
    assert {m.payload[:5] for m in encoded} == {b"\x00" + schema_id.to_bytes(4, "big")}

    decoded = decode(decoder(schema_registry, tmp_path / "dec"), [m.payload for m in encoded])
    assert [m.error for m in decoded] == [None] * len(docs)
    assert [json.loads(m.payload) for m in decoded] == docs
    assert {m.metadata["schema_id"] for m in decoded} == {schema_id}
    # one request for the subject, one for the id: none per message
    assert sorted(schema_registry.requests) == [
        f"GET /schemas/ids/{schema_id}",
        "GET /subjects/telemetry-value/versions/latest",
    ]


def test_avro_json_without_raw_json_wraps_union_values(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    wrapped = envelope(1, value={"double": 21.5}, unit={"string": "degC"})
    (msg,) = encode(encoder(schema_registry, tmp_path, avro_raw_json=False), [wrapped])
    assert msg.error is None
    (out,) = decode(decoder(schema_registry, tmp_path, avro_raw_json=False), [msg.payload])
    assert json.loads(out.payload) == wrapped
    (plain,) = decode(decoder(schema_registry, tmp_path), [msg.payload])
    assert json.loads(plain.payload)["value"] == 21.5


def test_subject_is_interpolated_per_message(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    temps = schema_registry.register("temps-value", ENVELOPE)
    readings = schema_registry.register("readings-value", READING)
    proc = encoder(schema_registry, tmp_path, subject="${! @topic }-value")
    batch = [
        Message.from_value(envelope(1), {"topic": "temps"}),
        Message.from_value(
            {"tag": "t1", "at": "2024-05-01T12:00:00.5Z", "price": "1.5"}, {"topic": "readings"}
        ),
        Message.from_value(envelope(2), {"topic": "nowhere"}),
    ]
    first, second, third = proc.process_batch(batch)
    assert first.error is None and second.error is None
    assert int.from_bytes(first.payload[1:5], "big") == temps
    assert int.from_bytes(second.payload[1:5], "big") == readings
    assert third.error is not None
    assert "subject 'nowhere-value'" in third.error and "not found" in third.error


def test_a_document_that_does_not_fit_names_the_field(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    bad = envelope(1, quality="GREAT")
    good, failed = encode(encoder(schema_registry, tmp_path), [envelope(0), bad])
    assert good.error is None
    assert failed.error is not None
    assert failed.error.startswith("schema_registry_encode: subject 'telemetry-value': quality:")
    assert "'GREAT'" in failed.error
    assert json.loads(failed.payload) == bad  # the message keeps its payload


# -- basic auth ----------------------------------------------------------------------------------


def test_basic_auth_with_the_right_credentials_works(
    schema_registry_auth: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry_auth.register("telemetry-value", ENVELOPE)
    auth = {"enabled": True, "username": "gateway", "password": "s3cret"}
    (msg,) = encode(encoder(schema_registry_auth, tmp_path / "e", basic_auth=auth), [envelope(1)])
    assert msg.error is None
    (out,) = decode(decoder(schema_registry_auth, tmp_path / "d", basic_auth=auth), [msg.payload])
    assert json.loads(out.payload) == envelope(1)


def test_wrong_credentials_fail_messages_with_a_clear_error(
    schema_registry_auth: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_id = schema_registry_auth.register("telemetry-value", ENVELOPE)
    auth = {"enabled": True, "username": "gateway", "password": "wrong"}
    (msg,) = encode(encoder(schema_registry_auth, tmp_path, basic_auth=auth), [envelope(1)])
    assert msg.error is not None
    assert "refused the credentials" in msg.error and "401" in msg.error
    assert "check basic_auth" in msg.error
    framed = b"\x00" + schema_id.to_bytes(4, "big") + b"\x00"
    (out,) = decode(decoder(schema_registry_auth, tmp_path), [framed])
    assert out.error is not None and "refused the credentials" in out.error
    assert f"schema id {schema_id}" in out.error


# -- offline -------------------------------------------------------------------------------------


def test_registry_stopped_mid_run_cached_schemas_keep_serving(
    schema_registry: TestSchemaRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    enc = encoder(schema_registry, tmp_path, refresh_period="1ms")
    dec = decoder(schema_registry, tmp_path)
    before = encode(enc, [envelope(0)])
    assert decode(dec, [before[0].payload])[0].error is None

    schema_registry.stop()
    caplog.set_level(logging.WARNING, logger="streamforge.schema_registry")
    for n in range(1, 4):  # the refresh period has passed: the registry is asked, then retried
        (msg,) = encode(enc, [envelope(n)])
        assert msg.error is None
        (out,) = decode(dec, [msg.payload])
        assert out.error is None and json.loads(out.payload) == envelope(n)
    warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage
    assert schema_registry.url in warnings[0]


def test_new_processors_work_from_the_disk_cache_alone(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    (msg,) = encode(encoder(schema_registry, tmp_path), [envelope(5)])
    assert msg.error is None
    assert decode(decoder(schema_registry, tmp_path), [msg.payload])[0].error is None
    schema_registry.stop()

    # as if the gateway restarted while the registry is down: only the disk cache is left
    fresh_enc = encoder(schema_registry, tmp_path)
    fresh_dec = decoder(schema_registry, tmp_path)
    (again,) = encode(fresh_enc, [envelope(6)])
    assert again.error is None
    (out,) = decode(fresh_dec, [again.payload])
    assert out.error is None and json.loads(out.payload) == envelope(6)


def test_never_seen_subject_with_the_registry_down_fails_naming_it(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.stop()
    (msg,) = encode(encoder(schema_registry, tmp_path), [envelope(1)])
    assert msg.error is not None
    assert "subject 'telemetry-value' has no cached schema" in msg.error
    assert "unreachable" in msg.error


def test_unknown_schema_id_fails_alone_while_others_flow(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    good = [
        m.payload for m in encode(encoder(schema_registry, tmp_path), [envelope(1), envelope(2)])
    ]
    unknown = b"\x00\x00\x00\x03\xe7" + good[0][5:]  # id 999
    dec = decoder(schema_registry, tmp_path)
    batch = decode(dec, [good[0], unknown, b"plain text", good[1]])
    assert [m.error is None for m in batch] == [True, False, False, True]
    assert batch[1].error is not None
    assert batch[1].error.startswith("schema_registry_decode: schema id 999:")
    assert "not found" in batch[1].error
    assert batch[1].payload == unknown  # unchanged
    assert "magic byte" in (batch[2].error or "")
    assert json.loads(batch[3].payload) == envelope(2)
    # the failed lookup is remembered: more messages with id 999 ask the registry no more
    asked = len(schema_registry.requests)
    decode(dec, [unknown] * 50)
    assert len(schema_registry.requests) == asked


# -- byte compatibility with confluent-kafka -----------------------------------------------------


def confluent(reg: TestSchemaRegistry) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": reg.url})


def test_confluent_deserializer_reads_what_streamforge_encodes(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    schema_registry.register("readings-value", READING)
    docs = [envelope(1), envelope(2, value=None, unit=None), envelope(3, value=7)]
    encoded = encode(encoder(schema_registry, tmp_path), docs)
    deserialize = AvroDeserializer(confluent(schema_registry))
    ctx = SerializationContext("telemetry", MessageField.VALUE)
    assert [deserialize(m.payload, ctx) for m in encoded] == docs

    reading = {"tag": "t1", "at": "2024-05-01T12:00:00.123456Z", "price": "12.345"}
    (msg,) = encode(encoder(schema_registry, tmp_path, subject="readings-value"), [reading])
    got = deserialize(msg.payload, SerializationContext("readings", MessageField.VALUE))
    assert got["at"] == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert str(got["price"]) == "12.345" and got["acked"] is None


def test_streamforge_decodes_what_the_confluent_serializer_writes(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    client = confluent(schema_registry)
    serialize = AvroSerializer(client, json.dumps(ENVELOPE))
    ctx = SerializationContext("telemetry", MessageField.VALUE)
    docs = [envelope(1), envelope(2, value=None), envelope(3, value="open")]
    payloads = [serialize(d, ctx) for d in docs]
    assert schema_registry.subjects["telemetry-value"]  # the serializer registered the schema

    decoded = decode(decoder(schema_registry, tmp_path), payloads)
    assert [json.loads(m.payload) for m in decoded] == docs

    serialize_reading = AvroSerializer(client, json.dumps(READING))
    at = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    raw = serialize_reading(
        {"tag": "t1", "at": at, "acked": at, "price": Decimal("12.345")},
        SerializationContext("readings", MessageField.VALUE),
    )
    (out,) = decode(decoder(schema_registry, tmp_path), [raw])
    assert json.loads(out.payload) == {
        "tag": "t1",
        "at": "2024-05-01T12:00:00.123456Z",
        "acked": "2024-05-01T12:00:00.123Z",
        "price": "12.345",
    }
    # and StreamForge's own encoding of the same document is the same bytes
    (again,) = encode(encoder(schema_registry, tmp_path, subject="readings-value"),
                      [json.loads(out.payload)])  # fmt: skip
    assert again.payload == raw


# -- a stream end to end -------------------------------------------------------------------------

STREAM = """
http:
  enabled: false

input:
  generate:
    count: 40
    interval: ""
    batch_size: 10
    mapping: |
      let n = counter()
      root = {"asset_id": "boiler-" + ($n % 2).string(), "parameter": "temperature",
              "value": 20 + $n, "unit": "degC", "quality": "GOOD",
              "timestamps": {"device_time": "2024-05-01T12:00:00Z",
                             "gateway_time": "2024-05-01T12:00:01Z"},
              "metadata": {"seq": $n.string()}}

pipeline:
  processors:
    - schema_registry_encode:
        url: URL
        subject: telemetry-value
        avro_raw_json: true
        cache_dir: CACHE
    - mapping: |
        meta wire_bytes = content().length()
    - schema_registry_decode:
        url: URL
        avro_raw_json: true
        cache_dir: CACHE

output:
  file:
    path: OUT
    codec: lines
"""


def test_a_stream_encodes_and_decodes_through_the_registry(
    schema_registry: TestSchemaRegistry, tmp_path: Path, runs: list[Run]
) -> None:
    schema_registry.register("telemetry-value", ENVELOPE)
    out = tmp_path / "out.jsonl"
    text = STREAM.replace("URL", schema_registry.url).replace("OUT", str(out))
    config = write(tmp_path / "avro.yaml", text.replace("CACHE", str(tmp_path / "cache")))
    run = Run(config)
    runs.append(run)
    assert run.proc.wait(timeout=60) == 0, run.logs()

    docs = [json.loads(line) for line in out_lines(out)]
    assert len(docs) == 40
    assert sorted(int(d["metadata"]["seq"]) for d in docs) == list(range(1, 41))
    assert {d["unit"] for d in docs} == {"degC"}
    assert all(d["value"] == 20 + int(d["metadata"]["seq"]) for d in docs)
    assert len([r for r in schema_registry.requests if "/subjects/" in r]) == 1
