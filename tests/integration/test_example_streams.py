"""The example streams in streams/ run unchanged against real brokers (Mosquitto, Tansu, HTTP).

Each example is started with `streamforge run streams/<name>.yaml`, configured only through the
environment variables its header documents, and stopped with SIGTERM once its work is done.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto
from peers.ports import free_port, wait_listening
from peers.tansu import Tansu

paho = pytest.importorskip("paho.mqtt.client")
pytest.importorskip("confluent_kafka")

REPO = Path(__file__).resolve().parents[2]
ASSETS = ["press-01", "press-02", "oven-07", "mixer-03"]
PARAMETERS = [("temperature", "degC"), ("pressure", "bar"), ("vibration", "mm/s")]


class ExampleRun:
    """`streamforge run streams/<name>.yaml` as a subprocess, stopped with SIGTERM."""

    def __init__(self, name: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "HTTP_ADDRESS": "127.0.0.1:0", **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamforge", "run", f"streams/{name}.yaml"],
            cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the stream ended early waiting for {what}:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log:\n{self.log}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- mqtt-to-kafka -------------------------------------------------------------------------------


def mqtt_client(broker: Mosquitto, client_id: str = "", **kw: Any) -> Any:
    """A connected paho client (network loop running)."""
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, **kw)
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect("127.0.0.1", broker.port, keepalive=10)
    c.loop_start()
    assert connected.wait(5), "the test client could not connect to mosquitto"
    return c


def disconnect(c: Any) -> None:
    c.disconnect()
    c.loop_stop()


def prepare_session(broker: Mosquitto, client_id: str, topic_filter: str) -> None:
    """Create the stream's persistent session up front, so the broker queues for it at once."""
    c = mqtt_client(broker, client_id, clean_session=False)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe(topic_filter, qos=1)
    assert subscribed.wait(5)
    disconnect(c)


def publish(broker: Mosquitto, readings: list[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) with QoS 1 and wait until the broker acknowledged each."""
    c = mqtt_client(broker)
    try:
        infos = [c.publish(topic, payload, qos=1) for topic, payload in readings]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        disconnect(c)


def plant_readings(
    start: int, count: int
) -> tuple[list[tuple[str, bytes]], dict[int, dict[str, Any]]]:
    """Readings on plant/<asset>/<parameter> and the envelope each should become.

    Each reading has a value of its own (its index + 0.25) so it can be recognised in Kafka.
    Every 10th is a bare number (no unit), every 13th has a value that is not a number.
    """
    published: list[tuple[str, bytes]] = []
    expected: dict[int, dict[str, Any]] = {}
    for i in range(start, start + count):
        asset = ASSETS[i % len(ASSETS)]
        parameter, unit = PARAMETERS[(i // len(ASSETS)) % len(PARAMETERS)]
        value: Any = i + 0.25
        topic = f"plant/{asset}/{parameter}"
        if i % 13 == 0:
            payload = json.dumps({"value": f"sensor fault {i}", "unit": unit}).encode()
            value, quality = f"sensor fault {i}", "BAD"
        elif i % 10 == 0:
            payload, unit, quality = str(value).encode(), "", "GOOD"
        else:
            payload, quality = json.dumps({"value": value, "unit": unit}).encode(), "GOOD"
        published.append((topic, payload))
        expected[i] = {
            "asset_id": asset, "parameter": parameter, "value": value, "unit": unit,
            "quality": quality,
        }  # fmt: skip
    return published, expected


def test_mqtt_to_kafka_turns_every_reading_into_a_keyed_envelope(
    tmp_path: Path, mosquitto: Mosquitto, tansu: Tansu
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("telemetry"), partitions=3)
    client_id = f"sf-example-{uuid.uuid4().hex[:10]}"
    dlq_dir = tmp_path / "dead-letter"
    prepare_session(mosquitto, client_id, "plant/+/+")
    # published before the stream runs: held by the broker in the stream's session
    early, expected = plant_readings(0, 150)
    publish(mosquitto, early)

    run = ExampleRun(
        "mqtt-to-kafka", tmp_path,
        {"MQTT_URL": mosquitto.url, "MQTT_CLIENT_ID": client_id, "KAFKA_ADDRESS": tansu.address,
         "KAFKA_TOPIC": topic, "DLQ_DIR": str(dlq_dir)},
    )  # fmt: skip
    try:
        run.wait_for(lambda: "session resumed" in run.log, "the mqtt connection")
        late, more = plant_readings(150, 250)
        expected.update(more)
        malformed = [("plant/press-01/temperature", b"{not json"), ("plant/oven-07/power", b"\xff")]
        publish(mosquitto, late + malformed)
        got = tansu.consume_all(topic, expect=len(expected), timeout=20)
        run.wait_for(lambda: len(jsonl(dlq_dir / "mqtt-to-kafka.jsonl")) >= 2, "dead letters")
    finally:
        code = run.stop()
    assert code == 0, run.log

    assert len(got) == len(expected), f"{len(got)} of {len(expected)} envelopes reached Kafka"
    seen: Counter[int] = Counter()
    partitions: dict[str, set[int]] = {}
    for record in got:
        envelope = json.loads(record.value())
        value = envelope["value"]
        index = int(value) if isinstance(value, float) else int(value.rsplit(" ", 1)[1])
        seen[index] += 1
        want = expected[index]
        assert {k: envelope[k] for k in want} == want
        assert envelope["classification"] == "TELEMETRY"
        assert envelope["timestamps"]["gateway_time"].endswith("Z")
        assert record.key() == want["asset_id"].encode()
        partitions.setdefault(want["asset_id"], set()).add(record.partition())
    assert set(seen) == set(expected) and max(seen.values()) == 1, "each reading exactly once"
    assert all(len(p) == 1 for p in partitions.values()), "an asset's readings share a partition"

    dead = jsonl(dlq_dir / "mqtt-to-kafka.jsonl")
    assert [d["mqtt_topic"] for d in dead] == ["plant/press-01/temperature", "plant/oven-07/power"]
    assert dead[0]["payload"] == "{not json"
    assert all("parse as json" in d["error"] for d in dead)

    # everything was acknowledged: the session holds nothing for the stream any more
    leftovers: list[Any] = []
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_message = lambda _c, _u, m: leftovers.append(m)
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    time.sleep(0.5)
    disconnect(c)
    assert leftovers == []


# -- kafka-to-http -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    content_type: str
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the stream sends up to 64 requests at once


class IngestApi:
    """An HTTP ingest API that refuses one asset (422) and fails its first requests (503)."""

    def __init__(self, refused_asset: str, transient_failures: int) -> None:
        self.refused_asset = refused_asset
        self.port = free_port()
        self.requests: list[Request] = []
        self._left_to_fail = transient_failures
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = api.status_for(self.path)
                with api._lock:
                    api.requests.append(
                        Request(self.path, json.loads(body), self.headers["Content-Type"], status)
                    )
                reply = b"ok" if status == 200 else f"refused with {status}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        wait_listening(self.port)

    def status_for(self, path: str) -> int:
        if path.endswith(f"/{self.refused_asset}"):
            return 422
        with self._lock:
            if self._left_to_fail > 0:
                self._left_to_fail -= 1
                return 503
        return 200

    def accepted(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingest_api() -> Iterator[IngestApi]:
    api = IngestApi(refused_asset="mixer-03", transient_failures=2)
    try:
        yield api
    finally:
        api.close()


def test_kafka_to_http_delivers_good_readings_and_dead_letters_refusals(
    tmp_path: Path, tansu: Tansu, ingest_api: IngestApi
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("telemetry"), partitions=2)
    group = f"forwarder-{uuid.uuid4().hex[:8]}"
    dlq = tmp_path / "dead-letter" / f"{topic}.jsonl"
    records: list[tuple[int, bytes | None, bytes, list[tuple[str, bytes]] | None]] = []
    for i in range(400):
        asset = ASSETS[i % len(ASSETS)]
        quality = "GOOD" if i % 5 else ("BAD" if i % 10 else "SUSPECT")
        envelope = {"asset_id": asset, "parameter": "temperature", "value": i + 0.5,
                    "unit": "degC", "quality": quality, "classification": "TELEMETRY"}  # fmt: skip
        records.append((i % 2, asset.encode(), json.dumps(envelope).encode(), None))
    records.append((0, b"press-01", b"garbage, not an envelope", None))
    tansu.produce(topic, records)
    envelopes = [json.loads(v) for _, _, v, _ in records[:-1]]
    good = [e for e in envelopes if e["quality"] == "GOOD"]
    delivered = [e for e in good if e["asset_id"] != "mixer-03"]
    refused = [e for e in good if e["asset_id"] == "mixer-03"]

    run = ExampleRun(
        "kafka-to-http", tmp_path,
        {"KAFKA_ADDRESS": tansu.address, "KAFKA_TOPIC": topic, "KAFKA_GROUP": group,
         "SINK_URL": f"http://127.0.0.1:{ingest_api.port}/ingest",
         "DLQ_DIR": str(tmp_path / "dead-letter")},
    )  # fmt: skip
    try:
        run.wait_for(lambda: len(ingest_api.accepted()) >= len(delivered), "deliveries")
        run.wait_for(lambda: len(jsonl(dlq)) >= len(refused) + 1, "dead letters")
        run.wait_for(
            lambda: sum(tansu.committed(group, topic, 2).values()) >= len(records),
            "committed offsets",
        )
    finally:
        code = run.stop()
    assert code == 0, run.log

    accepted = ingest_api.accepted()
    assert sorted(r.body["value"] for r in accepted) == sorted(e["value"] for e in delivered)
    for r in accepted:
        assert r.path == f"/ingest/{r.body['asset_id']}"
        assert r.content_type == "application/json"
    assert all(r.body["quality"] == "GOOD" for r in ingest_api.requests), "others are dropped"
    assert Counter(r.status for r in ingest_api.requests)[503] == 2, "retried after a 503"

    dead = jsonl(dlq)
    assert len(dead) == len(refused) + 1
    refusals = [d for d in dead if "value" in d]
    assert sorted(d["value"] for d in refusals) == sorted(e["value"] for e in refused)
    for d in refusals:
        assert "HTTP 422" in d["error"] and "refused with 422" in d["error"]
        assert f"/ingest/{d['asset_id']}" in d["error"]
        assert d["kafka_partition"] in (0, 1) and d["kafka_offset"] >= 0
    (garbage,) = [d for d in dead if "value" not in d]
    assert garbage["payload"] == "garbage, not an envelope" and garbage["error"]
    assert (
        f"stream kafka-to-http: {len(records)} read, {len(delivered)} written, "
        f"{len(refused) + 1} dead-lettered, 0 failed (written nowhere)"
    ) in run.log

    per_partition = Counter(p for p, _, _, _ in records)
    assert tansu.committed(group, topic, 2) == dict(per_partition)
