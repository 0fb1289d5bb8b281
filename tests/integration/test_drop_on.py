"""`drop_on` output in whole runs: an `http_server` input answers each request with what became
of its message (200 once written or dropped, 502 with the error when the write failed), and the
child `http_client` writes to a real loopback HTTP server that fails or stalls on demand."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peers.http_sink import HttpSink
from peers.ports import free_port, wait_listening
from peers.stream_run import Run, stream_config


def post(port: int, doc: dict[str, object], timeout: float = 20) -> tuple[int, str]:
    """POST a JSON document to the stream's http_server input: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/in", body=json.dumps(doc).encode())
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


@contextmanager
def stream(tmp_path: Path, output: str) -> Iterator[tuple[Run, int]]:
    """Run an http_server input on a free port into `output` (YAML under `output:`)."""
    port = free_port()
    config = stream_config(
        tmp_path / "s.yaml",
        f"""
        input:
          http_server:
            address: 127.0.0.1:{port}
            path: /in
            timeout: 30s
        output:
        """
        + output,
    )
    run = Run(config)
    try:
        wait_listening(port)
        yield run, port
    finally:
        run.stop()


def sent_ids(sink: HttpSink) -> list[int]:
    """The ids of the documents the sink received, answered whatever way, in order."""
    return [json.loads(r.body)["id"] for r in sink.all_requests]


def test_error_true_drops_what_the_child_fails_and_the_stream_goes_on(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    output = f"""
          drop_on:
            error: true
            output:
              http_client:
                url: '{http_sink.url("/ingest")}'
                headers:
                  X-Sink-Status: '${{! this.status }}'
                retries: 0
        """
    with stream(tmp_path, output) as (run, port):
        answers = [post(port, {"id": i, "status": s}) for i, s in enumerate([200, 500, 400, 201])]
    assert [status for status, _ in answers] == [200, 200, 200, 200], run.logs()
    assert sent_ids(http_sink) == [0, 1, 2, 3]
    assert [json.loads(r.body)["id"] for r in http_sink.requests] == [0, 3]
    assert "dropped 1 message(s) the output failed to write" in run.logs()
    assert "HTTP 500" in run.logs() and "HTTP 400" in run.logs()


def test_error_patterns_drop_only_matching_errors(tmp_path: Path, http_sink: HttpSink) -> None:
    output = f"""
          drop_on:
            error_patterns:
              - 'HTTP 40[49]'
            output:
              http_client:
                url: '{http_sink.url("/ingest")}'
                headers:
                  X-Sink-Status: '${{! this.status }}'
                retries: 0
        """
    with stream(tmp_path, output) as (run, port):
        answers = [post(port, {"id": i, "status": s}) for i, s in enumerate([404, 500, 409, 200])]
    statuses = [status for status, _ in answers]
    assert statuses == [200, 502, 200, 200], run.logs()
    assert "HTTP 500" in answers[1][1] and "failing on purpose with 500" in answers[1][1]
    assert sent_ids(http_sink) == [0, 1, 2, 3]


def test_back_pressure_drops_while_the_child_blocks_then_writes_again(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    output = f"""
          drop_on:
            error: true
            back_pressure: 300ms
            output:
              http_client:
                url: '{http_sink.url("/ingest")}'
                timeout: 20s
                retries: 0
        """
    http_sink.delay = 2.0
    with stream(tmp_path, output) as (run, port):
        first = post(port, {"id": 1})
        # answered before the server answered the child: the message was given up on
        assert first[0] == 200 and http_sink.all_requests == [], run.logs()
        second = post(port, {"id": 2})  # the child is still busy: dropped at once
        assert second[0] == 200 and http_sink.all_requests == []
        http_sink.delay = 0.0
        run.wait_log("the output is writing again", timeout=10)
        third = post(port, {"id": 3})
        assert third[0] == 200
    assert sent_ids(http_sink) == [1, 3], run.logs()
    assert "experienced back pressure beyond: 300ms" in run.logs()


def test_back_pressure_without_error_fails_the_message(tmp_path: Path, http_sink: HttpSink) -> None:
    output = f"""
          drop_on:
            back_pressure: 200ms
            output:
              http_client:
                url: '{http_sink.url("/ingest")}'
                timeout: 20s
                retries: 0
        """
    http_sink.delay = 1.5
    with stream(tmp_path, output) as (run, port):
        status, body = post(port, {"id": 1})
        assert status == 502 and "experienced back pressure beyond: 200ms" in body, run.logs()
        run.wait_log("the output is writing again", timeout=10)
        http_sink.delay = 0.0
        assert post(port, {"id": 2})[0] == 200
    assert sent_ids(http_sink) == [1, 2]
