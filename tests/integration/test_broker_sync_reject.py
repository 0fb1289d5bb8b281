"""The `broker` input, the `sync_response` and `reject` outputs and the `protobuf` processor in
whole runs against real peers: Mosquitto and HTTP clients of the stream's own server."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
from peers.mosquitto import Mosquitto
from peers.ports import free_port, wait_listening
from peers.stream_run import Run, out_lines, wait_until, write

from streamforge.config.loader import load_stream
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams


def publish_all(broker: Mosquitto, topic: str, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and wait until the broker has each one."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port, keepalive=5)
    client.loop_start()
    try:
        for info in [client.publish(topic, p, qos=1) for p in payloads]:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_in(broker: Mosquitto, topic: str, client_id: str) -> str:
    """One child input of the broker, indented as the configs below list them."""
    return f"""
              - mqtt:
                  urls: [ {broker.url} ]
                  topics: [ {topic} ]
                  client_id: {client_id}
                  clean_session: false
                  qos: 1"""


def test_broker_merges_two_mqtt_inputs_and_acknowledges_each_to_its_own(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    tag = uuid.uuid4().hex[:8]
    topic_a, topic_b = f"sf-{tag}/a", f"sf-{tag}/b"
    inputs = mqtt_in(mosquitto, topic_a, f"sf-a-{tag}") + mqtt_in(mosquitto, topic_b, f"sf-b-{tag}")
    out = tmp_path / "out.txt"
    first = write(
        tmp_path / "first.yaml",
        f"""
        input:
          broker:
            inputs:{inputs}
        output:
          switch:
            cases:
              - check: '@mqtt_topic == "{topic_a}"'
                output:
                  file: {{ path: "{out}" }}
              - output:
                  reject: 'no room for ${{! @mqtt_topic }}'
        http: {{ enabled: false }}
        """,
    )
    run = Run(first)
    runs.append(run)
    wait_until(lambda: run.logs().count("connected to") >= 2, 20, "both inputs connected")
    publish_all(mosquitto, topic_a, [f"a-{i}".encode() for i in range(20)])
    publish_all(mosquitto, topic_b, [f"b-{i}".encode() for i in range(20)])
    wait_until(lambda: len(out_lines(out)) >= 20, 20, "the messages of topic a")
    run.wait_log("not acknowledged to the broker")
    assert run.stop() == 0
    assert "no room for " + topic_b in run.logs()
    assert sorted(out_lines(out)) == sorted(f"a-{i}" for i in range(20))

    second = write(
        tmp_path / "second.yaml",
        f"""
        input:
          broker:
            inputs:{inputs}
        output:
          file: {{ path: "{out}" }}
        http: {{ enabled: false }}
        """,
    )
    again = Run(second)
    runs.append(again)
    wait_until(
        lambda: sum(1 for line in out_lines(out) if line.startswith("b-")) >= 20,
        20,
        "topic b delivered again",
    )
    time.sleep(0.5)
    assert again.stop() == 0
    lines = out_lines(out)
    assert sorted(line for line in lines if line.startswith("b-")) == sorted(
        f"b-{i}" for i in range(20)
    )
    assert len([line for line in lines if line.startswith("a-")]) == 20  # acknowledged: not again


def test_broker_of_file_and_generate_batches_to_one_output(tmp_path: Path) -> None:
    load_builtins()
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f'{{"n": {i}}}\n' for i in range(5)))
    out = tmp_path / "out.jsonl"
    config = write(
        tmp_path / "s.yaml",
        f"""
        input:
          broker:
            inputs:
              - file:
                  paths: [ {data} ]
                processors:
                  - mapping: 'root = {{"src": "file", "n": this.n}}'
              - generate:
                  count: 4
                  interval: ""
                  mapping: 'root = {{"src": "gen", "n": counter()}}'
            batching:
              count: 2
          processors:
            - mapping: 'root = this.merge({{"batch": batch_size()}})'
        output:
          file: {{ path: {out}, codec: lines }}
        """,
    )
    stream = load_stream(config)
    assert run_streams([stream], RunOptions(workers=1, http=False, configure_logging=False)) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((g["src"], g["n"]) for g in got) == sorted(
        [("file", i) for i in range(5)] + [("gen", i) for i in range(1, 5)]
    )
    assert [g["batch"] for g in got if g["src"] == "gen"] == [2, 2, 2, 2]
    assert sorted(g["batch"] for g in got if g["src"] == "file") == [1, 2, 2, 2, 2]


def request(
    port: int, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/ask", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_sync_response_answers_http_server_requests_and_reject_fails_them(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    out = tmp_path / "written.jsonl"
    config = write(
        tmp_path / "s.yaml",
        f"""
        input:
          http_server:
            address: 127.0.0.1:{port}
            path: /ask
            sync_response:
              status: '${{! @status.or("201") }}'
              headers:
                Content-Type: application/json
              metadata_headers:
                include_prefixes: [ x- ]
        pipeline:
          processors:
            - mapping: |
                root.answer = this.q.uppercase()
                meta "x-asked" = this.q
                meta status = if this.q == "teapot" {{ "418" }} else {{ deleted() }}
        output:
          switch:
            cases:
              - check: errored()
                output:
                  reject: 'cannot answer: ${{! error() }}'
              - output:
                  broker:
                    pattern: fan_out
                    outputs:
                      - file: {{ path: {out}, codec: lines }}
                      - sync_response: {{}}
        http: {{ enabled: false }}
        """,
    )
    run = Run(config)
    runs.append(run)
    wait_listening(port, timeout=20)
    status, headers, body = request(port, b'{"q": "hello"}')
    assert (status, json.loads(body)) == (201, {"answer": "HELLO"})
    assert headers["content-type"] == "application/json" and headers["x-asked"] == "hello"
    status, _, body = request(port, b'{"q": "teapot"}')
    assert (status, json.loads(body)) == (418, {"answer": "TEAPOT"})
    status, _, body = request(port, b"not json")
    assert status == 502 and body.decode().startswith("cannot answer: ")
    multipart = (
        b'--xx\r\nContent-Type: application/json\r\n\r\n{"q": "one"}\r\n'
        b'--xx\r\nContent-Type: application/json\r\n\r\n{"q": "two"}\r\n--xx--\r\n'
    )
    status, headers, body = request(
        port, multipart, {"Content-Type": "multipart/mixed; boundary=xx"}
    )
    assert status == 201 and headers["content-type"].startswith("multipart/mixed; boundary=")
    assert b'{"answer":"ONE"}' in body and b'{"answer":"TWO"}' in body
    assert run.stop() == 0
    written = [json.loads(line)["answer"] for line in out_lines(out)]
    assert written == ["HELLO", "TEAPOT", "ONE", "TWO"]  # the other output wrote them too


def test_protobuf_messages_cross_mqtt_between_two_streams(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    schema = tmp_path / "schema" / "plant"
    schema.mkdir(parents=True)
    (schema / "reading.proto").write_text(
        'syntax = "proto3";\npackage plant;\n'
        "message Reading {\n  string asset_id = 1;\n  double value = 2;\n  uint64 seq = 3;\n}\n"
    )
    topic = f"sf-{uuid.uuid4().hex[:8]}/readings"
    out = tmp_path / "decoded.jsonl"
    schema_dir = tmp_path / "schema"
    producer = write(
        tmp_path / "producer.yaml",
        f"""
        input:
          generate:
            count: 5
            interval: 200ms
            mapping: 'root = {{"assetId": "pump-1", "value": counter() * 1.5, "seq": counter()}}'
        pipeline:
          processors:
            - protobuf:
                operator: from_json
                message: plant.Reading
                import_paths: [ {schema_dir} ]
        output:
          mqtt:
            urls: [ {mosquitto.url} ]
            topic: {topic}
            qos: 1
        http: {{ enabled: false }}
        """,
    )
    consumer = write(
        tmp_path / "consumer.yaml",
        f"""
        input:
          mqtt:
            urls: [ {mosquitto.url} ]
            topics: [ {topic} ]
            qos: 1
        pipeline:
          processors:
            - protobuf:
                operator: to_json
                use_proto_names: true
                message: plant.Reading
                import_paths: [ {schema_dir} ]
        output:
          file: {{ path: {out}, codec: lines }}
        http: {{ enabled: false }}
        """,
    )
    run = Run(consumer)
    runs.append(run)
    run.wait_log("connected to")
    both = Run(producer)
    runs.append(both)
    wait_until(lambda: len(out_lines(out)) >= 5, 20, "decoded readings")
    assert run.stop() == 0
    both.stop()
    got = [json.loads(line) for line in out_lines(out)]
    assert got == [{"asset_id": "pump-1", "value": i * 1.5, "seq": str(i)} for i in range(1, 6)]
