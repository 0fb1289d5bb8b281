"""`http_server` input and `http_client` output through `streamforge run`, against real HTTP peers.

The stream's own server is driven by real HTTP clients (several threads); the `http_sink`
fixture is a real HTTP server that records what `http_client` sends, fails on demand and can be
stopped and started again on the same port.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from peers.http_sink import HttpSink
from peers.ports import free_port

CLI = [sys.executable, "-m", "streamforge", "run"]
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


class Running:
    """A `streamforge run` subprocess whose log lines are collected as they come."""

    def __init__(self, cfg: Path) -> None:
        self.proc = subprocess.Popen(
            [*CLI, str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        while time.monotonic() < deadline:
            m = rx.search(self.log)
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {rx.pattern!r}; log:\n{self.log}")

    def port(self) -> int:
        return int(self.wait_for(LISTENING).group(1))

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return rc

    def wait(self, timeout: float = 30.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return rc


@contextmanager
def running(cfg: Path) -> Iterator[Running]:
    run = Running(cfg)
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def post(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError:
        return 0, ""  # the endpoint is not up yet (it starts after the components are built)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- http_server --------------------------------------------------------------------------------


def test_thousands_of_posts_are_written_and_each_response_reflects_its_outcome(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.txt"
    cfg = write(
        tmp_path / "server.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_server:
            address: 127.0.0.1:0
            path: /ingest
            sync_response:
              status: '${{! meta("X-Want-Status").or("200") }}'
              headers:
                X-Echo: '${{! meta("X-Request-Id") }}'
        pipeline:
          processors:
            - mapping: |
                root = if content().string().has_prefix("bad") {{
                  throw("refusing " + content().string())
                }} else {{ content() }}
        output:
          reject_errored:
            file: {{ path: "{out}" }}
        """,
    )
    total, clients = 3000, 6
    with running(cfg) as run:
        port = run.port()

        def client(k: int) -> list[tuple[int, int, dict[str, str], bytes]]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            results = []
            for i in range(k, total, clients):
                body = f"bad-{i}" if i % 97 == 0 else json.dumps({"i": i})
                headers = {"X-Request-Id": str(i)}
                if i % 10 == 1:
                    headers["X-Want-Status"] = "201"
                conn.request("POST", "/ingest", body=body.encode(), headers=headers)
                resp = conn.getresponse()
                hdrs = {k.lower(): v for k, v in resp.getheaders()}
                results.append((i, resp.status, hdrs, resp.read()))
            conn.close()
            return results

        with ThreadPoolExecutor(clients) as pool:
            results = [r for part in pool.map(client, range(clients)) for r in part]
        assert run.stop() == 0

    assert len(results) == total
    for i, status, headers, body in results:
        if i % 97 == 0:
            assert status == 502, (i, status, body)
            assert f"refusing bad-{i}".encode() in body
        else:
            assert status == (201 if i % 10 == 1 else 200), (i, status, body)
            assert headers["x-echo"] == str(i)
    written = [json.loads(line)["i"] for line in out.read_text().splitlines()]
    assert sorted(written) == [i for i in range(total) if i % 97 != 0]


def test_request_metadata_path_parameters_and_raw_bodies(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = write(
        tmp_path / "server.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_server:
            address: 127.0.0.1:0
            path: /devices/{{device}}/values
            allowed_verbs: [ POST, PUT ]
        output:
          file:
            path: '{out}/${{! meta("device") }}-${{! meta("http_server_verb") }}.bin'
            codec: all-bytes
        """,
    )
    meta_cfg = write(
        tmp_path / "meta.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_server:
            address: 127.0.0.1:0
            path: /m
        pipeline:
          processors:
            - mapping: 'root = @'
        output:
          file: {{ path: "{tmp_path}/meta.jsonl" }}
        """,
    )
    binary = bytes(range(256)) * 3
    with running(cfg) as run, running(meta_cfg) as meta_run:
        port, meta_port = run.port(), meta_run.port()
        assert post(port, "/devices/pump1/values", binary)[0] == 200
        assert post(port, "/devices/pump2/values", b"not { json", method="PUT")[0] == 200
        status, _, _ = post(
            meta_port,
            "/m?site=berlin&line=3",
            b"x",
            {"User-Agent": "probe/1.0", "X-Tag": "t1", "Cookie": "session=abc"},
        )
        assert status == 200
        assert run.stop() == 0
        assert meta_run.stop() == 0
    assert (out / "pump1-POST.bin").read_bytes() == binary
    assert (out / "pump2-PUT.bin").read_bytes() == b"not { json"
    (meta,) = jsonl(tmp_path / "meta.jsonl")
    assert meta["http_server_user_agent"] == "probe/1.0"
    assert meta["http_server_request_path"] == "/m"
    assert meta["http_server_verb"] == "POST"
    assert meta["http_server_remote_ip"] == "127.0.0.1"
    assert meta["X-Tag"] == "t1"
    assert meta["site"] == "berlin" and meta["line"] == "3"
    assert meta["session"] == "abc"


def test_bad_requests_get_their_status_and_the_stream_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    cfg = write(
        tmp_path / "server.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          http_server:
            address: 127.0.0.1:0
            path: /ingest
            max_body_size: 1000
            rate_limit: 20/1s
        output:
          file: {{ path: "{out}" }}
        """,
    )
    with running(cfg) as run:
        port = run.port()
        status, headers, _ = post(port, "/ingest", b"", method="GET")
        assert status == 405 and headers["allow"] == "POST"
        assert post(port, "/elsewhere", b"lost")[0] == 404
        status, _, body = post(port, "/ingest", b"y" * 5000)
        assert status == 413 and b"max_body_size 1000" in body
        time.sleep(1.1)  # the bucket is full again
        started = time.monotonic()
        burst = [post(port, "/ingest", f"burst-{i}".encode()) for i in range(40)]
        refilled = int((time.monotonic() - started) * 20) + 1
        limited = [r for r in burst if r[0] == 429]
        assert 20 - refilled <= len(limited) <= 20  # a burst of 20, then 20 per second
        assert all(int(r[1]["retry-after"]) >= 1 for r in limited)
        accepted = {f"burst-{i}" for i, r in enumerate(burst) if r[0] == 200}
        assert len(accepted) + len(limited) == 40
        time.sleep(1.1)
        non_utf8 = b"\xff\xfe\x00raw"
        assert post(port, "/ingest", non_utf8)[0] == 200
        assert post(port, "/ingest", b"after the storm")[0] == 200
        run.wait_for("rejected .* request")
        assert run.stop() == 0
    lines = out.read_bytes().split(b"\n")
    assert {x.decode() for x in lines[:-3]} == accepted
    assert lines[-3:] == [non_utf8, b"after the storm", b""]


# -- http_client --------------------------------------------------------------------------------


def test_every_message_reaches_the_server_with_interpolated_url_and_headers(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    total = 2000
    cfg = write(
        tmp_path / "client.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          generate:
            count: {total}
            interval: ""
            batch_size: 50
            mapping: |
              let n = counter()
              meta sf_batch = ($n / 100).floor().string()
              root = {{"id": $n, "asset": "a" + ($n % 3).string()}}
        output:
          http_client:
            url: '{http_sink.url()}assets/${{! this.asset }}?id=${{! this.id }}'
            verb: PUT
            headers:
              Content-Type: application/json
              X-Id: '${{! this.id }}'
            metadata:
              include_prefixes: [ sf_ ]
            basic_auth: {{ enabled: true, username: plant, password: s3cret }}
            max_in_flight: 8
        """,
    )
    with running(cfg) as run:
        assert run.wait() == 0, run.log
    got = http_sink.requests
    assert len(got) == total
    seen = set()
    for req in got:
        doc = json.loads(req.body)
        assert req.method == "PUT"
        assert req.path == f"/assets/{doc['asset']}?id={doc['id']}"
        assert req.headers["x-id"] == str(doc["id"])
        assert req.headers["content-type"] == "application/json"
        assert req.headers["sf_batch"] == str(doc["id"] // 100)
        assert req.headers["authorization"] == "Basic cGxhbnQ6czNjcmV0"  # plant:s3cret
        seen.add(doc["id"])
    assert seen == set(range(1, total + 1))


def test_error_statuses_become_errors_routed_by_fallback(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    data = tmp_path / "in.jsonl"
    wants = [200, 404, 500, 409, 201, 400]
    data.write_text("".join(json.dumps({"id": i, "want": w}) + "\n" for i, w in enumerate(wants)))
    dlq = tmp_path / "dlq.jsonl"
    cfg = write(
        tmp_path / "client.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          file: {{ paths: [ "{data}" ] }}
        output:
          fallback:
            - http_client:
                url: '{http_sink.url("/in")}'
                headers:
                  X-Sink-Status: '${{! this.want }}'
                retries: 1
                retry_period: 10ms
                drop_on: [ 404 ]
                successful_on: [ 409 ]
                max_in_flight: 1
            - file:
                path: "{dlq}"
              processors:
                - mapping: 'root = {{"id": this.id, "error": @fallback_error}}'
        """,
    )
    with running(cfg) as run:
        assert run.wait() == 0, run.log
    failed = {d["id"]: d["error"] for d in jsonl(dlq)}
    assert set(failed) == {1, 2, 5}
    assert "HTTP 404" in failed[1] and "failing on purpose with 404" in failed[1]
    assert "HTTP 500" in failed[2] and "(after 1 retries)" in failed[2]
    assert "HTTP 400" in failed[5]
    assert all("http_client" in e and "/in" in e for e in failed.values())
    attempts: dict[int, int] = {}
    for req in http_sink.all_requests:
        i = json.loads(req.body)["id"]
        attempts[i] = attempts.get(i, 0) + 1
    # 404 is in drop_on: no retry; 500 and 400 are retried once
    assert attempts == {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 5: 2}


def test_server_restart_loses_nothing_and_the_circuit_breaker_opens_and_closes(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    total = 500
    dlq = tmp_path / "dlq.jsonl"
    cfg = write(
        tmp_path / "client.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          generate:
            count: {total}
            interval: 6ms
            mapping: 'root = {{"id": counter()}}'
        output:
          fallback:
            - http_client:
                url: '{http_sink.url("/in")}'
                timeout: 1s
                retries: 2
                retry_period: 20ms
                max_retry_backoff: 100ms
                circuit_breaker: {{ failures: 5, reset_after: 300ms }}
            - file:
                path: "{dlq}"
              processors:
                - mapping: 'root = {{"id": this.id, "error": @fallback_error}}'
        """,
    )
    with running(cfg) as run:
        http_sink.wait_for(100)
        http_sink.stop()
        run.wait_for("circuit breaker open")
        time.sleep(1.0)
        http_sink.start()
        run.wait_for("circuit breaker closed")
        assert run.wait() == 0, run.log
    delivered = {json.loads(r.body)["id"] for r in http_sink.requests}
    dead = {d["id"]: d["error"] for d in jsonl(dlq)}
    assert delivered | set(dead) == set(range(1, total + 1))
    assert dead, "some messages were sent while the server was down"
    assert max(delivered) == total, "delivery resumed after the restart"
    assert any("circuit breaker open" in e for e in dead.values())
    assert any("refused" in e.lower() or "disconnected" in e.lower() for e in dead.values())
    assert "half-open" in run.log


def test_unreachable_url_is_reported_with_component_cause_and_readiness(tmp_path: Path) -> None:
    dead_port, http_port = free_port(), free_port()
    cfg = write(
        tmp_path / "client.yaml",
        f"""
        http: {{ address: "127.0.0.1:{http_port}" }}
        input:
          generate:
            interval: 50ms
            mapping: 'root = {{"n": counter()}}'
        output:
          label: to_api
          http_client:
            url: http://127.0.0.1:{dead_port}/values
            retries: 1
            retry_period: 10ms
        """,
    )
    with running(cfg) as run:
        run.wait_for(r"write failed.*component=to_api")
        line = run.wait_for(r".*write failed.*component=to_api.*").group(0)
        assert f"127.0.0.1:{dead_port}" in line and "refused" in line.lower()
        deadline = time.monotonic() + 10
        while True:
            status, body = get(f"http://127.0.0.1:{http_port}/ready")
            if status == 503 and "to_api" in body or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 503
        assert "to_api: not connected" in body and "refused" in body.lower()
        _, metrics = get(f"http://127.0.0.1:{http_port}/metrics")
        assert re.search(
            r'streamforge_connected\{component="to_api",stream="client"\} 0\.0', metrics
        )
        assert run.proc.poll() is None, "the stream keeps running"
        assert run.stop() == 0


def test_requests_of_later_batches_go_out_while_earlier_ones_wait(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    """One message per batch, a server answering after 0.2 s: eight requests are under way at
    once, so 24 messages take about 0.6 s, not the 4.8 s of one batch after the other."""
    http_sink.delay = 0.2
    cfg = write(
        tmp_path / "slow.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          generate: {{ count: 24, interval: "", batch_size: 1, mapping: 'root = counter()' }}
        output:
          http_client: {{ url: '{http_sink.url()}slow', max_in_flight: 8 }}
        """,
    )
    with running(cfg) as run:
        run.wait_for("running 1 stream")
        started = time.monotonic()
        assert run.wait() == 0, run.log
        took = time.monotonic() - started
    assert sorted(int(r.body) for r in http_sink.requests) == list(range(1, 25))
    assert took < 2.5, f"24 requests took {took:.1f}s"
