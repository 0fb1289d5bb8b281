"""`http_client` input and `http` processor through `streamforge run`, against a real HTTP server.

The `http_source` fixture is a real HTTP server (standard library) that serves readings, long
polls, server-sent events and line streams, echoes what is posted, and can be stopped and
started again on the same port.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import peers.http_source
from peers.http_source import HttpSource
from peers.ports import free_port
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write

#: the fixture (tests/integration/conftest.py does not import it for every test)
http_source = peers.http_source.http_source


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in out_lines(path)]


def start(runs: list[Run], config: Path, http_port: int | None = None) -> Run:
    run = Run(config, http_port=http_port)
    runs.append(run)
    return run


def test_polling_makes_one_message_per_answer_with_status_and_headers(
    tmp_path: Path, http_source: HttpSource, runs: list[Run]
) -> None:
    out = tmp_path / "out.jsonl"
    config = write(
        tmp_path / "poll.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_client:
            url: '{http_source.url("/value")}?site=${{! "plant-1" }}'
            verb: get
            interval: 100ms
            headers:
              Accept: application/json
              X-Poll: '${{! "poll-" + "a" }}'
            basic_auth: {{ enabled: true, username: reader, password: s3cret }}
        pipeline:
          processors:
            - mapping: |
                root = this
                root.status = @http_status_code
                root.reading = meta("x-reading")
                root.type = meta("content-type")
        output:
          file: {{ path: "{out}" }}
        """,
    )
    run = start(runs, config)
    wait_until(lambda: len(out_lines(out)) >= 5, 20, "five polls written")
    assert run.stop() == 0
    docs = jsonl(out)
    assert [d["n"] for d in docs] == list(range(1, len(docs) + 1))
    assert all(d["status"] == 200 and d["type"] == "application/json" for d in docs)
    assert [d["reading"] for d in docs] == [str(d["n"]) for d in docs]
    request = http_source.requests[0]
    assert request.method == "GET"
    assert request.path == "/value?site=plant-1"
    assert request.headers["accept"] == "application/json"
    assert request.headers["x-poll"] == "poll-a"
    credentials = base64.b64encode(b"reader:s3cret").decode()
    assert request.headers["authorization"] == f"Basic {credentials}"


def test_a_server_that_goes_away_is_logged_once_and_read_again_when_back(
    tmp_path: Path, http_source: HttpSource, runs: list[Run]
) -> None:
    out = tmp_path / "out.jsonl"
    port = free_port()
    config = write(
        tmp_path / "away.yaml",
        f"""
        http: {{ address: 127.0.0.1:{port} }}
        input:
          label: plc_reader
          http_client:
            url: {http_source.url("/value")}
            interval: 100ms
            retry_period: 50ms
            max_retry_backoff: 200ms
        output:
          file: {{ path: "{out}" }}
        """,
    )
    run = start(runs, config, http_port=port)
    wait_until(lambda: len(out_lines(out)) >= 3, 20, "polls before the server goes away")
    wait_until(lambda: run.get("/ready")[0] == 200, 10, "ready while the server answers")
    http_source.stop()
    run.wait_log("retrying with backoff")
    wait_until(lambda: run.get("/ready")[0] == 503, 10, "not ready while the server is away")
    status, body = run.get("/ready")
    assert "plc_reader" in body
    written_while_away = len(out_lines(out))
    time.sleep(1.5)  # many failed attempts meanwhile
    http_source.start()
    run.wait_log("answers again")
    wait_until(lambda: len(out_lines(out)) >= written_while_away + 3, 20, "polls after return")
    wait_until(lambda: run.get("/ready")[0] == 200, 10, "ready again")
    assert run.stop() == 0
    logs = run.logs()
    assert logs.count("retrying with backoff") == 1, logs
    assert logs.count("answers again") == 1, logs
    warning = next(line for line in logs.splitlines() if "retrying with backoff" in line)
    assert "plc_reader" in warning and "Connection refused" in warning
    readings = [d["n"] for d in jsonl(out)]
    assert readings == sorted(readings) and len(set(readings)) == len(readings)


def test_server_sent_events_become_messages_with_their_event_metadata(
    tmp_path: Path, http_source: HttpSource, runs: list[Run]
) -> None:
    http_source.events = [
        ("1", "temperature", "21.5"),
        ("2", "", "first\nsecond"),
        ("3", "pressure", '{"bar": 1.2}'),
    ]
    out = tmp_path / "out.jsonl"
    config = write(
        tmp_path / "sse.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_client:
            url: {http_source.url("/events")}
            stream:
              enabled: true
              codec: sse
        pipeline:
          processors:
            - mapping: |
                root.data = content().string()
                root.event = @sse_event
                root.id = @sse_id
                root.status = @http_status_code
        output:
          file: {{ path: "{out}" }}
        """,
    )
    run = start(runs, config)
    wait_until(lambda: len(out_lines(out)) >= 3, 20, "three events written")
    # the stream ended; it is requested again with the last id, and nothing is repeated
    http_source.wait_for("/events", 3)
    http_source.events.append(("4", "temperature", "22.0"))
    wait_until(lambda: len(out_lines(out)) >= 4, 20, "the event sent after a reconnect")
    assert run.stop() == 0
    assert jsonl(out) == [
        {"data": "21.5", "event": "temperature", "id": "1", "status": 200},
        {"data": "first\nsecond", "event": "message", "id": "2", "status": 200},
        {"data": '{"bar": 1.2}', "event": "pressure", "id": "3", "status": 200},
        {"data": "22.0", "event": "temperature", "id": "4", "status": 200},
    ]
    streams = [r for r in http_source.requests if r.path == "/events"]
    assert streams[0].headers["accept"] == "text/event-stream"
    assert "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == "3"


def test_a_line_stream_that_ends_without_reconnect_ends_the_input(
    tmp_path: Path, http_source: HttpSource
) -> None:
    http_source.lines = [json.dumps({"i": i}) for i in range(50)]
    out = tmp_path / "out.jsonl"
    config = write(
        tmp_path / "lines.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_client:
            url: {http_source.url("/lines")}
            stream: {{ enabled: true, reconnect: false }}
        output:
          file: {{ path: "{out}" }}
        """,
    )
    result = run_to_end(config)
    assert result.returncode == 0, result.stderr
    assert [d["i"] for d in jsonl(out)] == list(range(50))
    assert len([r for r in http_source.requests if r.path == "/lines"]) == 1


def test_long_polling_asks_again_as_soon_as_an_answer_arrives(
    tmp_path: Path, http_source: HttpSource, runs: list[Run]
) -> None:
    http_source.hold = 0.5  # a poll nobody answers ends with 204 (an empty body)
    out = tmp_path / "out.txt"
    config = write(
        tmp_path / "longpoll.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_client:
            url: {http_source.url("/longpoll")}
            interval: 0s
            timeout: 10s
        output:
          file: {{ path: "{out}" }}
        """,
    )
    run = start(runs, config)
    http_source.wait_for("/longpoll", 1)
    time.sleep(1.2)  # two polls or so time out empty on the server
    for i in range(5):
        http_source.publish(f"value-{i}".encode())
        wait_until(lambda i=i: len(out_lines(out)) > i, 20, f"value {i} written")
    assert run.stop() == 0
    assert out_lines(out) == [f"value-{i}" for i in range(5)]
    # each answer was followed by the next poll at once: more polls than values
    assert len(http_source.wait_for("/longpoll", 7)) >= 7


def test_the_http_processor_enriches_messages_and_flags_failures_without_stopping(
    tmp_path: Path, http_source: HttpSource
) -> None:
    out = tmp_path / "out.jsonl"
    refused = f"http://127.0.0.1:{free_port()}/nobody"
    config = write(
        tmp_path / "enrich.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          generate:
            count: 9
            interval: ""
            mapping: |
              root = {{"i": counter()}}
              meta asset = "pump-" + counter().string()
        pipeline:
          processors:
            - mapping: |
                root = this
                meta target = match this.i % 3 {{
                  0 => "{http_source.url("/status/500")}"
                  1 => "{http_source.url("/echo")}"
                  _ => "{refused}"
                }}
            - http:
                url: ${{! @target }}
                headers:
                  X-Asset: ${{! @asset }}
                  Content-Type: application/json
                retries: 1
                retry_period: 10ms
                timeout: 2s
                extract_headers:
                  include_prefixes: [ x-echoed ]
            - catch:
                - mapping: |
                    root.failed = this.i
                    root.status = @http_status_code
                    root.error = error()
            - mapping: |
                root = this
                root.echoed = meta("x-echoed")
        output:
          file: {{ path: "{out}" }}
        """,
    )
    result = run_to_end(config)
    assert result.returncode == 0, result.stderr
    docs = jsonl(out)
    assert len(docs) == 9
    enriched = [d for d in docs if "echo" in d]
    assert [json.loads(d["echo"])["i"] for d in enriched] == [1, 4, 7]
    assert [d["asset"] for d in enriched] == ["pump-1", "pump-4", "pump-7"]
    assert all(d["echoed"] == "yes" for d in enriched)
    server_errors = [d for d in docs if d.get("status") == 500]
    assert [d["failed"] for d in server_errors] == [3, 6, 9]
    assert all("HTTP 500" in d["error"] and "after 1 retries" in d["error"] for d in server_errors)
    refusals = [d for d in docs if "failed" in d and d.get("status") is None]
    assert [d["failed"] for d in refusals] == [2, 5, 8]
    assert all(re.search(r"refused", d["error"], re.IGNORECASE) for d in refusals)
    # 500s were tried twice (a retry), the echoes once
    assert len([r for r in http_source.requests if r.path == "/status/500"]) == 6
    assert len([r for r in http_source.requests if r.path == "/echo"]) == 3
