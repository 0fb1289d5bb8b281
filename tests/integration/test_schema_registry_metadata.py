"""`schema_registry_encode` with `schema_metadata`: a schema each message carries (Benthos' common
schema, as CDC inputs emit it) is registered under the subject and encodes the message, against
the test schema registry server (tests/integration/peers/schema_registry.py, Confluent's REST
API). What it writes is read back by `schema_registry_decode` and by confluent-kafka's own
AvroDeserializer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from peers.schema_registry import TestSchemaRegistry
from peers.stream_run import out_lines, run_stream

from streamforge.message import Message
from streamforge.plugin import load_builtins, registry

#: a row as a CDC input gives it, with its schema in Benthos' common form (a fingerprint too)
ORDER_SCHEMA = {
    "type": "OBJECT",
    "name": "orders",
    "fingerprint": "f-orders-1",
    "children": [
        {"type": "INT64", "name": "id"},
        {"type": "STRING", "name": "customer"},
        {"type": "DECIMAL", "name": "total", "precision": 10, "scale": 2},
        {"type": "TIMESTAMP", "name": "placed_at", "unit": "MICROS", "adjust_to_utc": True},
        {"type": "STRING", "name": "note", "optional": True},
        {"type": "ARRAY", "name": "items", "children": [{"type": "STRING"}]},
        {
            "type": "OBJECT",
            "name": "ship_to",
            "children": [{"type": "STRING", "name": "city"}, {"type": "STRING", "name": "zip"}],
        },
    ],
}


def order(n: int, **changes: Any) -> dict[str, Any]:
    doc = {
        "id": n,
        "customer": f"c-{n % 4}",
        "total": f"{n * 3}.25",
        "placed_at": f"2024-05-01T12:00:{n % 60:02d}.123456Z",
        "note": None if n % 2 else "leave at the door",
        "items": [f"sku-{n}", "sku-0"],
        "ship_to": {"city": "Lyon", "zip": f"690{n % 10:02d}"},
    }
    doc.update(changes)
    return doc


def processor(name: str, conf: dict[str, Any]) -> Any:
    load_builtins()
    spec = registry.get("processor", name)
    assert spec is not None
    return spec.factory(conf, None)  # type: ignore[arg-type]


def encoder(reg: TestSchemaRegistry, cache: Path, **conf: Any) -> Any:
    base = {
        "url": reg.url,
        "subject": "shop.orders-value",
        "schema_metadata": "schema",
        "format": "avro",
        "avro": {"raw_json": True},
        "cache_dir": str(cache),
    }
    return processor("schema_registry_encode", {**base, **conf})


def decoder(reg: TestSchemaRegistry, cache: Path) -> Any:
    conf = {"url": reg.url, "avro_raw_json": True, "cache_dir": str(cache)}
    return processor("schema_registry_decode", conf)


def rows(docs: list[dict[str, Any]], schema: Any = ORDER_SCHEMA) -> list[Message]:
    return [Message.from_value(d, {"schema": schema, "table": "orders"}) for d in docs]


def registered_schema(reg: TestSchemaRegistry, subject: str, version: int = 1) -> Any:
    schema_id = reg.subjects[subject][version - 1]
    text, schema_type = reg.schemas[schema_id - 1]
    return schema_id, schema_type, json.loads(text)


def test_a_schema_from_metadata_is_registered_and_encodes_the_rows(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    docs = [order(n) for n in range(50)]
    encoded = encoder(schema_registry, tmp_path / "enc").process_batch(rows(docs))
    assert [m.error for m in encoded] == [None] * len(docs)

    # the registry now holds the Avro form of the row schema under the subject
    schema_id, schema_type, avro = registered_schema(schema_registry, "shop.orders-value")
    assert schema_type == "AVRO"
    assert avro["type"] == "record" and avro["name"] == "orders"
    fields = {f["name"]: f["type"] for f in avro["fields"]}
    assert fields["placed_at"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["total"] == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": 10,
        "scale": 2,
    }
    assert fields["note"] == ["null", "string"]
    assert fields["ship_to"]["type"] == "record"
    assert {m.payload[:5] for m in encoded} == {b"\x00" + schema_id.to_bytes(4, "big")}
    # one registration for fifty rows with the same schema
    posts = [r for r in schema_registry.requests if r.startswith("POST")]
    assert posts == ["POST /subjects/shop.orders-value/versions"]

    decoded = decoder(schema_registry, tmp_path / "dec").process_batch(
        [Message(m.payload) for m in encoded]
    )
    assert [m.error for m in decoded] == [None] * len(docs)
    assert [json.loads(m.payload) for m in decoded] == docs


def test_confluent_deserializer_reads_rows_encoded_by_a_metadata_schema(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    docs = [order(n) for n in range(5)]
    encoded = encoder(schema_registry, tmp_path / "enc").process_batch(rows(docs))
    client = SchemaRegistryClient({"url": schema_registry.url})
    deserializer = AvroDeserializer(client)
    ctx = SerializationContext("shop.orders", MessageField.VALUE)
    read = [deserializer(m.payload, ctx) for m in encoded]
    assert [r["id"] for r in read] == list(range(5))
    assert str(read[1]["total"]) == "3.25"
    assert read[3]["placed_at"].isoformat() == "2024-05-01T12:00:03.123456+00:00"
    assert read[1]["note"] is None and read[2]["note"] == "leave at the door"
    assert read[4]["ship_to"] == {"city": "Lyon", "zip": "69004"}


def test_a_changed_schema_becomes_a_new_version_of_the_subject(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    added = {**ORDER_SCHEMA, "fingerprint": "f-orders-2"}
    added["children"] = [*ORDER_SCHEMA["children"], {"type": "BOOLEAN", "name": "gift"}]
    enc = encoder(schema_registry, tmp_path / "enc")
    before = enc.process_batch(rows([order(1)]))
    after = enc.process_batch(rows([order(2, gift=True)], added))
    assert before[0].error is None and after[0].error is None, after[0].error
    assert len(schema_registry.subjects["shop.orders-value"]) == 2
    first, second = schema_registry.subjects["shop.orders-value"]
    assert before[0].payload[1:5] == first.to_bytes(4, "big")
    assert after[0].payload[1:5] == second.to_bytes(4, "big")
    dec = decoder(schema_registry, tmp_path / "dec")
    out = dec.process_batch([Message(before[0].payload), Message(after[0].payload)])
    assert json.loads(out[0].payload) == order(1)
    assert json.loads(out[1].payload) == order(2, gift=True)


def test_the_schema_may_come_as_json_text_and_names_the_record_as_configured(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    unnamed = {k: v for k, v in ORDER_SCHEMA.items() if k != "name"}
    enc = encoder(
        schema_registry,
        tmp_path / "enc",
        avro={"raw_json": True, "record_name": "Order", "namespace": "com.example.shop"},
    )
    out = enc.process_batch(rows([order(7)], json.dumps(unnamed)))
    assert out[0].error is None, out[0].error
    _, _, avro = registered_schema(schema_registry, "shop.orders-value")
    assert (avro["name"], avro["namespace"]) == ("Order", "com.example.shop")


def test_json_schema_format_registers_a_json_schema_and_frames_the_json(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    enc = encoder(schema_registry, tmp_path / "enc", format="json_schema", avro={})
    good, bad = enc.process_batch(rows([order(1), order(2, customer=42)]))
    assert good.error is None, good.error
    schema_id, schema_type, document = registered_schema(schema_registry, "shop.orders-value")
    assert schema_type == "JSON"
    assert document["type"] == "object"
    assert document["properties"]["total"]["pattern"] == r"^-?(0|[1-9][0-9]{0,7})\.[0-9]{2}$"
    assert good.payload[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    assert json.loads(good.payload[5:]) == order(1)
    assert bad.error is not None and "customer" in bad.error and "string" in bad.error
    assert bad.value == order(2, customer=42)  # a failed message keeps its content


def test_messages_without_a_usable_schema_fail_alone(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    enc = encoder(schema_registry, tmp_path / "enc")
    batch = rows([order(1)])
    batch.append(Message.from_value(order(2), {"table": "orders"}))
    batch.append(Message.from_value(order(3), {"schema": {"type": "OBJEKT"}}))
    big = {"type": "OBJECT", "children": [{"type": "BIG_DECIMAL", "name": "total"}]}
    batch.append(Message.from_value({"total": "1.5"}, {"schema": big}))
    ok, missing, malformed, unsupported = enc.process_batch(batch)
    assert ok.error is None
    assert missing.error is not None and "metadata 'schema' holds no schema" in missing.error
    assert malformed.error is not None and "'OBJEKT' is not a common schema type" in malformed.error
    assert unsupported.error is not None and "BIG_DECIMAL" in unsupported.error
    assert unsupported.error.startswith("schema_registry_encode: subject 'shop.orders-value'")
    assert [r for r in schema_registry.requests if r.startswith("POST")] == [
        "POST /subjects/shop.orders-value/versions"
    ]


def test_registrations_keep_serving_while_the_registry_is_down(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = encoder(schema_registry, cache).process_batch(rows([order(1)]))
    assert first[0].error is None
    schema_registry.stop()
    # the running processor and a new one (a restart) both encode from what was registered
    again = encoder(schema_registry, cache).process_batch(rows([order(2), order(3)]))
    assert [m.error for m in again] == [None, None]
    assert {m.payload[:5] for m in again} == {first[0].payload[:5]}
    # a schema never registered cannot be, and says why
    other = {**ORDER_SCHEMA, "fingerprint": "f-other", "name": "other"}
    failed = encoder(schema_registry, cache).process_batch(rows([order(4)], other))
    assert failed[0].error is not None and "unreachable" in failed[0].error


def test_the_older_fields_still_encode_by_the_latest_schema(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    avro = {
        "type": "record",
        "name": "Reading",
        "fields": [{"name": "tag", "type": "string"}, {"name": "v", "type": ["null", "double"]}],
    }
    schema_id = schema_registry.register("readings-value", avro)
    base = {"url": schema_registry.url, "subject": "readings-value"}
    old = processor(
        "schema_registry_encode", {**base, "avro_raw_json": True, "cache_dir": str(tmp_path / "a")}
    )
    new = processor(
        "schema_registry_encode",
        {**base, "avro": {"raw_json": True}, "cache_dir": str(tmp_path / "b")},
    )
    doc = {"tag": "t1", "v": 2.5}
    a = old.process_batch([Message.from_value(doc)])[0]
    b = new.process_batch([Message.from_value(doc)])[0]
    assert a.error is None and b.error is None
    assert a.payload == b.payload and a.payload[1:5] == schema_id.to_bytes(4, "big")
    assert not [r for r in schema_registry.requests if r.startswith("POST")]


STREAM = """
input:
  generate:
    count: 30
    interval: ""
    mapping: |
      root.seq = counter()
      root.line = "press-" + (counter() % 3).string()
      root.temp = 20.5
      root.ok = true
pipeline:
  processors:
    - mapping: |
        root = this
        meta schema = this.infer_schema()
    - schema_registry_encode:
        url: URL
        subject: ${! @kafka_topic.or("telemetry") }-value
        schema_metadata: schema
        format: avro
        avro:
          raw_json: true
          namespace: com.example.plant
        cache_dir: CACHE/enc
    - schema_registry_decode:
        url: URL
        avro_raw_json: true
        cache_dir: CACHE/dec
"""


def test_a_stream_registers_the_inferred_schema_and_decodes_what_it_wrote(
    schema_registry: TestSchemaRegistry, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    text = STREAM.replace("URL", schema_registry.url).replace("CACHE", str(tmp_path / "cache"))
    run_stream(tmp_path / "s.yaml", text, out)

    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["seq"] for d in docs) == list(range(1, 31))
    assert all(d["temp"] == 20.5 and d["ok"] is True for d in docs)
    _, _, avro = registered_schema(schema_registry, "telemetry-value")
    assert (avro["name"], avro["namespace"]) == ("telemetry_value", "com.example.plant")
    assert [f["name"] for f in avro["fields"]] == ["line", "ok", "seq", "temp"]
    assert len([r for r in schema_registry.requests if r.startswith("POST")]) == 1
