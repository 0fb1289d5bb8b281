"""Avro codec throughput: envelope-like documents through `avro` from_json then to_json.

Runs in one process over the same 200,000 prebuilt telemetry-envelope dicts:

* StreamForge: batches of messages (structured values, as the `telemetry` processor leaves
  them) through the `avro` processor with `operator: from_json`, then another with
  `operator: to_json` (raw Avro, `avro_raw_json: true`): JSON value -> Avro bytes -> JSON value.
* baseline: fastavro's `schemaless_writer` then `schemaless_reader`, called directly on the
  same dicts with the same parsed schema.

Two schemas: `strings` keeps the times as strings (the very same dicts go to both), `logical`
makes them `timestamp-micros` (StreamForge converts the RFC 3339 strings both ways; the
baseline is handed datetimes prepared beforehand, outside the timing, and gets datetimes back).
Prints messages/s of each and the ratio StreamForge / baseline.

    python bench/avro_codec.py [--count 200000] [--batch-size 1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

import fastavro

from streamforge.message import Message
from streamforge.processors.avro.avro import AvroProcessor

QUALITY = {"type": "enum", "name": "Quality", "symbols": ["GOOD", "SUSPECT", "UNCERTAIN", "BAD"]}


def envelope_schema(time_type: Any) -> dict[str, Any]:
    """The telemetry envelope as an Avro record, its two times of `time_type`."""
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": "io.streamforge",
        "fields": [
            {"name": "asset_id", "type": "string"},
            {"name": "parameter", "type": "string"},
            {"name": "value", "type": ["null", "double", "long", "boolean", "string"]},
            {"name": "unit", "type": ["null", "string"], "default": None},
            {"name": "quality", "type": QUALITY},
            {"name": "classification", "type": "string"},
            {
                "name": "timestamps",
                "type": {
                    "type": "record",
                    "name": "Timestamps",
                    "fields": [
                        {"name": "device_time", "type": time_type},
                        {"name": "gateway_time", "type": time_type},
                    ],
                },
            },
            {"name": "clock_skew_ms", "type": "double"},
            {"name": "metadata", "type": {"type": "map", "values": "string"}},
        ],
    }


def make_docs(count: int) -> list[dict[str, Any]]:
    """Envelope-like documents, built once."""
    params = ["temperature", "pressure", "flow", "level"]
    docs = []
    for i in range(count):
        sec, micro = divmod(i, 1000)
        docs.append(
            {
                "asset_id": f"boiler-{i % 50}",
                "parameter": params[i % 4],
                "value": 20.0 + (i % 1000) / 8,
                "unit": "degC" if i % 4 == 0 else None,
                "quality": "GOOD" if i % 10 else "SUSPECT",
                "classification": "TELEMETRY",
                "timestamps": {
                    "device_time": f"2024-05-01T12:{sec // 60 % 60:02d}:{sec % 60:02d}."
                    f"{micro:03d}123Z",
                    "gateway_time": f"2024-05-01T12:{sec // 60 % 60:02d}:{sec % 60:02d}."
                    f"{micro:03d}456Z",
                },
                "clock_skew_ms": 0.333,
                "metadata": {"adapter_id": "line-1", "modbus_tag_name": params[i % 4]},
            }
        )
    return docs


def with_datetimes(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same documents with their times as datetimes (what fastavro takes for timestamps)."""
    out = copy.deepcopy(docs)
    for doc in out:
        stamps = doc["timestamps"]
        for key in ("device_time", "gateway_time"):
            stamps[key] = datetime.strptime(stamps[key], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc
            )
    return out


def streamforge(schema: dict[str, Any], docs: list[dict[str, Any]], batch_size: int) -> float:
    """Seconds for every document through avro from_json then to_json."""
    text = json.dumps(schema)
    encode = AvroProcessor({"operator": "from_json", "schema": text, "avro_raw_json": True})
    decode = AvroProcessor({"operator": "to_json", "schema": text, "avro_raw_json": True})
    batches = [
        [Message.from_value(d) for d in docs[i : i + batch_size]]
        for i in range(0, len(docs), batch_size)
    ]
    start = time.perf_counter()
    for batch in batches:
        out = decode.process_batch(encode.process_batch(batch))
        for msg in out:
            if msg.error is not None:
                raise SystemExit(f"StreamForge failed a message: {msg.error}")
    elapsed = time.perf_counter() - start
    sample = batches[0][0].value
    assert sample["asset_id"] == docs[0]["asset_id"], sample
    return elapsed


def baseline(schema: dict[str, Any], docs: list[dict[str, Any]]) -> float:
    """Seconds for fastavro's schemaless writer and reader on every document."""
    parsed = fastavro.parse_schema(schema)
    writer, reader = fastavro.schemaless_writer, fastavro.schemaless_reader
    start = time.perf_counter()
    for doc in docs:
        buf = io.BytesIO()
        writer(buf, parsed, doc)
        reader(io.BytesIO(buf.getvalue()), parsed, None)
    return time.perf_counter() - start


def best(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    docs = make_docs(args.count)
    micros = {"type": "long", "logicalType": "timestamp-micros"}
    scenarios = [
        ("strings", envelope_schema("string"), docs),
        ("logical", envelope_schema(micros), with_datetimes(docs)),
    ]
    print(f"avro from_json -> to_json, {args.count:,} envelopes, batches of {args.batch_size}")
    for name, schema, base_docs in scenarios:
        sf = best(args.repeat, partial(streamforge, schema, docs, args.batch_size))
        fa = best(args.repeat, partial(baseline, schema, base_docs))
        sf_rate, fa_rate = args.count / sf, args.count / fa
        print(
            f"  {name:8s} StreamForge {sf_rate:>10,.0f} msg/s   fastavro direct "
            f"{fa_rate:>10,.0f} msg/s   ratio {sf_rate / fa_rate:.2f}"
        )


if __name__ == "__main__":
    main()
