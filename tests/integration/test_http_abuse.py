"""`http_server` and the metrics endpoint under abusive clients, through `streamforge run`.

Each test runs a stream `http_server -> file` and attacks it with raw sockets: cut-off
requests, slow drips, idle connections, reset storms, oversized bodies, more connections than
allowed. Each asserts that nothing partial reached the output, that a well-behaved client sent
alongside was answered, and that the log stayed free of tracebacks.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write

HEAD = b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"


def stream(tmp_path: Path, runs: list[Run], **fields: object) -> tuple[int, Path, Run]:
    """Start `http_server -> file` with short timeouts; returns (port, output file, run)."""
    port = free_port()
    out = tmp_path / "out.txt"
    settings = {
        "read_header_timeout": "1s",
        "read_timeout": "1s",
        "max_body_size": 1000,
        **fields,
    }
    extra = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    cfg = write(
        tmp_path / "server.yaml",
        f"""
http: {{ enabled: false }}
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /ingest
{extra}output:
  file: {{ path: "{out}" }}
""",
    )
    run = Run(cfg)
    runs.append(run)
    run.wait_log("listening on")
    return port, out, run


def post(port: int, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """A well-behaved client: one POST on a new connection; (status, response body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/ingest", body=body, headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a clean close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def response_status(sock: socket.socket, within: float = 10.0) -> int:
    """The status code of the response the server sends on `sock` (0 when it sends none)."""
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@contextmanager
def good_client(port: int, prefix: str) -> Iterator[list[tuple[str, int]]]:
    """Posts `prefix-N` every 20 ms on a thread while the block runs; yields (body, status)."""
    answered: list[tuple[str, int]] = []
    stop = threading.Event()

    def loop() -> None:
        i = 0
        while not stop.is_set():
            body = f"{prefix}-{i}"
            try:
                status, _ = post(port, body.encode())
            except OSError:
                status = 0
            answered.append((body, status))
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield answered
    finally:
        stop.set()
        thread.join(timeout=15)


def stop_and_check_log(run: Run) -> str:
    assert run.stop() == 0, run.logs()
    log = run.logs()
    assert "Traceback" not in log, log
    return log


def test_requests_cut_off_in_their_headers_or_body_are_never_messages(
    tmp_path: Path, runs: list[Run]
) -> None:
    port, out, run = stream(tmp_path, runs)
    with good_client(port, "good") as answered:
        for i in range(300):
            sock = connect(port)
            sock.sendall(HEAD[: 20 + i % 40])  # the request line and part of the headers
            sock.close()
        for _ in range(50):
            sock = connect(port)
            sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n" + b'{"a":1234')
            sock.close()
        for _ in range(50):
            sock = connect(port)
            sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n9\r\n" + b'{"a":1234')
            reset(sock)
        time.sleep(0.3)
    assert answered and all(status == 200 for _, status in answered), answered
    stop_and_check_log(run)
    assert out_lines(out) == [body for body, _ in answered]


def test_slow_clients_are_cut_off_while_others_are_answered(
    tmp_path: Path, runs: list[Run]
) -> None:
    port, out, run = stream(tmp_path, runs)
    head_drips = [connect(port) for _ in range(10)]
    body_drips = [connect(port) for _ in range(10)]
    for sock in body_drips:
        sock.sendall(HEAD + b"Content-Length: 40\r\n\r\n")
    with good_client(port, "good") as answered:
        started = time.monotonic()
        for step in range(15):  # 1.5 s of one byte per 100 ms: slower than both timeouts
            for sock in head_drips:
                with suppress(OSError):
                    sock.sendall(HEAD[step : step + 1])
            for sock in body_drips:
                with suppress(OSError):
                    sock.sendall(b"x")
            time.sleep(0.1)
        assert all(closed_by_server(sock, within=2.0) for sock in head_drips)
        assert [response_status(sock) for sock in body_drips] == [408] * 10
        assert time.monotonic() - started < 10
    assert answered and all(status == 200 for _, status in answered), answered
    log = stop_and_check_log(run)
    assert "header timeout" in log
    assert out_lines(out) == [body for body, _ in answered]


def test_idle_connections_and_a_reset_storm_do_not_stall_other_clients(
    tmp_path: Path, runs: list[Run]
) -> None:
    port, out, run = stream(tmp_path, runs, read_header_timeout="3s")
    idle = [connect(port) for _ in range(1000)]
    with good_client(port, "during") as answered:
        storm_started = time.monotonic()
        for i in range(1000):
            sock = connect(port)
            sock.sendall(HEAD[: 10 + i % 50])
            reset(sock)
        storm_seconds = time.monotonic() - storm_started
        time.sleep(0.3)
    assert answered and all(status == 200 for _, status in answered), answered
    assert post(port, b"after the storm") == (200, b"")
    # the idle connections are closed once read_header_timeout has passed
    assert all(closed_by_server(sock, within=5.0) for sock in idle[:50])
    for sock in idle:
        sock.close()
    log = stop_and_check_log(run)
    problem_lines = [line for line in log.splitlines() if "connection problem" in line]
    assert len(problem_lines) <= 3 + int(storm_seconds / 10), problem_lines
    assert out_lines(out) == [body for body, _ in answered] + ["after the storm"]


def test_oversized_bodies_get_a_413_every_client_can_read(tmp_path: Path, runs: list[Run]) -> None:
    port, out, run = stream(tmp_path, runs, read_timeout="10s")
    big = b"y" * (5 << 20)
    status, body = post(port, big)  # http.client sends the whole body before reading
    assert status == 413 and b"max_body_size 1000" in body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/ingest", body=iter([big[:100_000]] * 20), encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()
    sock = connect(port)  # a client that waits for 100 Continue gets the 413 instead
    sock.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n")
    assert response_status(sock) == 413
    sock.close()
    assert post(port, b"fits") == (200, b"")
    stop_and_check_log(run)
    assert out_lines(out) == ["fits"]


def test_connections_over_the_cap_get_a_readable_503(tmp_path: Path, runs: list[Run]) -> None:
    port, out, run = stream(tmp_path, runs, max_connections=20, read_header_timeout="30s")
    held = [connect(port) for _ in range(20)]
    time.sleep(0.2)
    status, body = post(port, b"over the cap")
    assert status == 503 and b"too many connections" in body
    for sock in held:
        sock.close()
    wait_until(lambda: post(port, b"probe")[0] == 200, 5, "a connection slot")
    stop_and_check_log(run)
    assert "over the cap" not in out_lines(out)
    assert out_lines(out)[-1] == "probe"


def test_metrics_endpoint_answers_during_idle_and_cut_off_connections(
    tmp_path: Path, runs: list[Run]
) -> None:
    http_port = free_port()
    cfg = write(
        tmp_path / "ticks.yaml",
        f"""
        http: {{ address: 127.0.0.1:{http_port} }}
        input:
          generate: {{ interval: 50ms, mapping: 'root = "tick"' }}
        output:
          drop: {{}}
        """,
    )
    run = Run(cfg, http_port=http_port)
    runs.append(run)
    wait_until(lambda: run.get("/ready")[0] == 200, 15, "the stream to be ready")
    idle = [connect(http_port) for _ in range(500)]
    for i in range(300):
        sock = connect(http_port)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"[: 5 + i % 25])
        reset(sock) if i % 2 else sock.close()
    assert run.get("/ready")[0] == 200
    status, text = run.get("/metrics")
    assert status == 200 and "streamforge_received_total" in text
    for sock in idle:
        sock.close()
    stop_and_check_log(run)


def test_a_stopping_stream_answers_every_request_it_wrote(tmp_path: Path, runs: list[Run]) -> None:
    """SIGTERM while clients post: a request is answered 2xx exactly when it was written."""
    port, out, run = stream(tmp_path, runs)
    answered: dict[str, int] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(100_000):
            body = f"c{k}-{i}"
            try:
                status, _ = post(port, body.encode())
            except OSError:
                return  # the listener is gone
            with lock:
                answered[body] = status
            if status != 200:
                return

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(answered) >= 400, 20, "400 answered requests")
    assert run.stop() == 0, run.logs()
    for thread in threads:
        thread.join(timeout=15)
    written = out_lines(out)
    assert len(written) == len(set(written))
    assert set(written) == {body for body, status in answered.items() if status == 200}
    assert all(status in (200, 503) for status in answered.values()), answered
