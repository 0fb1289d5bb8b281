"""The `sync_response` processor through `streamforge run` with a real `http_server` input: the
request is answered with the message as it was at the processor, while later processors change
it and a file output writes the changed message."""

from __future__ import annotations

import email.parser
import email.policy
import http.client
import textwrap
from pathlib import Path

from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write


def _post(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/readings", body=body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _up(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readings")
        return conn.getresponse().status == 405
    except OSError:
        return False
    finally:
        conn.close()


def start(tmp_path: Path, runs: list[Run], processors: str, output: str) -> int:
    """Run an http_server stream with `processors` and `output` (YAML, dedented); its port."""
    port = free_port()
    head = f"""
        input:
          http_server:
            address: 127.0.0.1:{port}
            path: /readings
            sync_response:
              headers:
                Content-Type: text/plain
                X-Stage: '${{! meta("stage") }}'
        http:
          enabled: false
        """
    text = (
        textwrap.dedent(head).lstrip()
        + "pipeline:\n  processors:\n"
        + textwrap.indent(textwrap.dedent(processors), "    ")
        + "output:\n"
        + textwrap.indent(textwrap.dedent(output), "  ")
    )
    run = Run(write(tmp_path / "answer.yaml", text))
    runs.append(run)
    wait_until(lambda: _up(port), 30, "the http_server input")
    return port


def test_the_request_is_answered_with_the_message_as_it_was_at_the_processor(
    tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "readings.txt"
    processors = """\
            - mapping: |
                root = content().uppercase()
                meta stage = "answered"
            - sync_response: {}
            - mapping: |
                root = "stored " + content().string()
                meta stage = "written"
"""
    output = f"""\
          file:
            path: {out}
            codec: lines
"""
    port = start(tmp_path, runs, processors, output)
    for text in ("pressure ok", "valve open"):
        status, headers, body = _post(port, text.encode())
        assert (status, body) == (200, text.upper().encode())
        assert headers["x-stage"] == "answered"  # the metadata of that point, too
    # the output wrote the messages as the later processor made them
    assert out_lines(out) == ["stored PRESSURE OK", "stored VALVE OPEN"]
    assert runs[0].stop() == 0


def test_each_sync_response_adds_to_the_answer(tmp_path: Path, runs: list[Run]) -> None:
    processors = """\
            - sync_response: {}
            - mapping: root = content().uppercase()
            - sync_response: {}
"""
    output = "drop: {}\n"
    port = start(tmp_path, runs, processors, output)
    status, headers, body = _post(port, b"flow 12.5")
    assert status == 200
    assert headers["content-type"].startswith("multipart/mixed; boundary=")
    head = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
    doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = [p.get_payload(decode=True) for p in doc.iter_parts()]  # type: ignore[attr-defined]
    assert parts == [b"flow 12.5", b"FLOW 12.5"]
    assert runs[0].stop() == 0


def test_a_message_that_then_fails_to_be_written_is_answered_with_the_error(
    tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "accepted.txt"
    processors = """\
            - sync_response: {}
            - mapping: 'root = if content().string().has_prefix("bad") { throw("rejected") }'
"""
    output = f"""\
          reject_errored:
            file:
              path: {out}
              codec: lines
"""
    port = start(tmp_path, runs, processors, output)
    assert _post(port, b"good reading")[::2] == (200, b"good reading")
    status, _, body = _post(port, b"bad reading")
    assert status == 502 and b"rejected" in body  # not the answer the processor gave
    assert out_lines(out) == ["good reading"]
    assert runs[0].stop() == 0


def test_the_benthos_broker_example_answers_with_the_output_processors_result(
    tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "stored.txt"
    output = f"""\
broker:
  pattern: fan_out
  outputs:
    - file:
        path: {out}
        codec: lines
    - sync_response: {{}}
      processors:
        - mapping: 'root = content().uppercase()'
"""
    port = start(tmp_path, runs, "- noop: {}\n", output)
    assert _post(port, b"hello world")[::2] == (200, b"HELLO WORLD")
    assert out_lines(out) == ["hello world"]
    assert runs[0].stop() == 0


def test_the_processor_answers_from_output_processors_after_a_mapping(
    tmp_path: Path, runs: list[Run]
) -> None:
    output = """\
drop: {}
processors:
  - mapping: 'root = "seen: " + content().string()'
  - sync_response: {}
  - mapping: 'root = "dropped"'
"""
    port = start(tmp_path, runs, "- noop: {}\n", output)
    assert _post(port, b"level 3")[::2] == (200, b"seen: level 3")
    assert runs[0].stop() == 0
