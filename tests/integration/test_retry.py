"""`retry` processor and `retry` output in whole runs against a real loopback HTTP server that
fails the first requests on demand: messages go through after retries, the attempts are what
the config says, and what still fails keeps its error (processor) or fails the write (output)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from peers.http_sink import HttpSink

from streamforge.config.loader import load_stream
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams

FAST = "backoff: { initial_interval: 10ms, max_interval: 40ms }"


def run(tmp_path: Path, text: str) -> int:
    load_builtins()
    config = tmp_path / "stream.yaml"
    config.write_text(textwrap.dedent(text))
    stream = load_stream(config)
    return run_streams([stream], RunOptions(workers=1, http=False, configure_logging=False))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def bodies(sink: HttpSink) -> list[dict]:
    """Every request the sink answered, whatever the status, in order."""
    return [json.loads(r.body) for r in sink.all_requests]


# -- the processor -------------------------------------------------------------------------------


def test_processor_retries_the_original_message_until_the_server_answers(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    http_sink.fail_next([503, 500])
    out = tmp_path / "out.jsonl"
    assert (
        run(
            tmp_path,
            f"""
            input:
              generate: {{ count: 1, interval: "", mapping: 'root = {{"id": 7}}' }}
            pipeline:
              processors:
                - retry:
                    {FAST}
                    processors:
                      - http: {{ url: "{http_sink.url("/enrich")}", verb: POST, retries: 0 }}
                - mapping: |
                    root.answer = content().string()
                    root.retries = @retry_count
                    root.waited = @backoff_duration
            output:
              file: {{ path: "{out}", codec: lines }}
            """,
        )
        == 0
    )
    [result] = lines(out)
    assert result["answer"] == "ok" and result["retries"] == 2
    assert result["waited"].endswith("ms")
    # every attempt sent the message as it reached retry, not the failed answer
    assert bodies(http_sink) == [{"id": 7}] * 3
    assert [r.status for r in http_sink.all_requests] == [503, 500, 200]


def test_processor_max_retries_bounds_the_attempts_and_keeps_the_error(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    http_sink.status = 500
    out = tmp_path / "out.jsonl"
    assert (
        run(
            tmp_path,
            f"""
            input:
              generate: {{ count: 1, interval: "", mapping: 'root = {{"id": 1}}' }}
            pipeline:
              processors:
                - retry:
                    {FAST}
                    max_retries: 3
                    processors:
                      - http: {{ url: "{http_sink.url("/enrich")}", verb: POST, retries: 0 }}
                - mapping: 'root = {{"error": error(), "retries": @retry_count}}'
            output:
              file: {{ path: "{out}", codec: lines }}
            """,
        )
        == 0
    )
    [result] = lines(out)
    assert "HTTP 500" in result["error"] and result["retries"] == 3
    assert len(http_sink.all_requests) == 3  # Benthos counts the first attempt in max_retries


def test_processor_parallel_retries_each_message_on_its_own(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        run(
            tmp_path,
            f"""
            input:
              generate:
                count: 4
                batch_size: 4
                interval: ""
                mapping: |
                  root = {{"id": counter()}}
                  meta status = if counter() == 2 {{ "500" }} else {{ "200" }}
            pipeline:
              processors:
                - retry:
                    {FAST}
                    parallel: true
                    max_retries: 2
                    processors:
                      - http:
                          url: "{http_sink.url("/enrich")}"
                          verb: POST
                          retries: 0
                          headers: {{ X-Sink-Status: '${{! @status }}' }}
                      - mapping: 'root = {{"answer": content().string()}}'
                - mapping: |
                    root = this.or({{}})
                    root.error = error()
                    root.retries = @retry_count
            output:
              file: {{ path: "{out}", codec: lines }}
            """,
        )
        == 0
    )
    results = lines(out)
    assert [r["retries"] for r in results] == [0, 2, 0, 0]  # in batch order
    assert [r["error"] is None for r in results] == [True, False, True, True]
    assert [r.get("answer") for r in results] == ["ok", None, "ok", "ok"]
    attempts: dict[int, int] = {}
    for doc in bodies(http_sink):
        attempts[doc["id"]] = attempts.get(doc["id"], 0) + 1
    assert attempts == {1: 1, 2: 2, 3: 1, 4: 1}


# -- the output ----------------------------------------------------------------------------------


def test_output_writes_again_only_what_failed_until_the_server_takes_it(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    http_sink.fail_next([500, 502, 503])
    assert (
        run(
            tmp_path,
            f"""
            input:
              generate:
                count: 5
                batch_size: 5
                interval: ""
                mapping: 'root = {{"id": counter()}}'
            output:
              retry:
                {FAST}
                output:
                  http_client:
                    url: "{http_sink.url("/ingest")}"
                    retries: 0
                    max_in_flight: 1
            """,
        )
        == 0
    )
    written = sorted(json.loads(r.body)["id"] for r in http_sink.requests)
    assert written == [1, 2, 3, 4, 5]
    sent = [d["id"] for d in bodies(http_sink)]
    # the first three requests were refused; only those three were sent again
    assert sent[:5] == [1, 2, 3, 4, 5] and sorted(sent[5:]) == [1, 2, 3]


def test_output_max_retries_exhausted_fails_the_write(tmp_path: Path, http_sink: HttpSink) -> None:
    http_sink.status = 500
    dead = tmp_path / "dead.jsonl"
    assert (
        run(
            tmp_path,
            f"""
            input:
              generate: {{ count: 1, interval: "", mapping: 'root = {{"id": 1}}' }}
            output:
              fallback:
                - retry:
                    {FAST}
                    max_retries: 2
                    output:
                      http_client: {{ url: "{http_sink.url("/ingest")}", retries: 0 }}
                - file: {{ path: "{dead}", codec: lines }}
                  processors:
                    - mapping: 'root = {{"id": this.id, "why": @fallback_error}}'
            """,
        )
        == 0
    )
    [failed] = lines(dead)
    assert failed["id"] == 1 and "HTTP 500" in failed["why"]
    assert len(http_sink.all_requests) == 3  # the first attempt and two retries
