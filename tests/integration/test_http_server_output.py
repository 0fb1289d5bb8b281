"""The `http_server` output through `streamforge run`, fetched by real HTTP and websocket clients:
GETs in order (408 when nothing comes), a chunked stream, websocket frames, on the stream's own
HTTP server and on a listener of the output's own (HTTPS too), back-pressure without a client,
undelivered messages failed back to a redelivering input (RabbitMQ) at stop, and lint."""

from __future__ import annotations

import asyncio
import datetime
import email.parser
import email.policy
import ipaddress
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from peers.ports import free_port
from peers.stream_run import Run, wait_until, write
from websockets.sync.client import connect

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
OWN = re.compile(r"http_server output \S+ listening on (https?)://127\.0\.0\.1:(\d+)/")
INPUT = re.compile(r"http_server input listening on http://127\.0\.0\.1:(\d+)/")


def start(runs: list[Run], path: Path, body: str, http_port: int | None = None) -> Run:
    run = Run(write(path, body), http_port)
    runs.append(run)
    return run


def own_port(run: Run, pattern: re.Pattern[str] = OWN, timeout: float = 60.0) -> int:
    """The port a listener of the run logged (it was asked for port 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = pattern.search(run.logs())
        if m:
            return int(m.group(m.lastindex or 1))
        if run.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no listener in the log:\n{run.logs()}")


def wait_ready(run: Run) -> None:
    wait_until(lambda: run.get("/ready")[0] == 200, 60, "the stream's HTTP server")


def metric(run: Run, name: str, component: str) -> float:
    """A sample of the run's /metrics (0 when absent)."""
    _, text = run.get("/metrics")
    m = re.search(rf'^{name}\{{component="{component}",stream="[^"]+"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_gets_take_messages_in_order_on_the_streams_http_server(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    run = start(
        runs,
        tmp_path / "s.yaml",
        f"""
        http:
          address: 127.0.0.1:{port}
        input:
          label: counting
          generate:
            interval: 10ms
            mapping: root = counter().string()
        output:
          label: served
          http_server:
            timeout: 1s
        """,
        port,
    )
    wait_ready(run)
    base = f"http://127.0.0.1:{port}"
    time.sleep(2.0)  # nobody asks: messages wait, the generator is held back
    assert metric(run, "streamforge_http_server_output_waiting", "served") >= 1
    # at 10ms it would have made some 200 by now
    assert metric(run, "streamforge_received_total", "counting") < 20
    got = [httpx.get(f"{base}/get", timeout=10) for _ in range(5)]
    assert [r.status_code for r in got] == [200] * 5
    assert [r.text for r in got] == ["1", "2", "3", "4", "5"]  # nothing dropped, in order
    assert got[0].headers["content-type"] == "application/octet-stream"
    # the server's own endpoints stay beside the output's
    assert run.get("/ready")[0] == 200
    assert "streamforge_sent_total" in run.get("/metrics")[1]
    refused = httpx.post(f"{base}/get", content=b"x", timeout=10)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
    assert run.stop() == 0


def test_a_get_waits_for_a_message_then_408_and_the_sender_hears_when_a_client_got_it(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    run = start(
        runs,
        tmp_path / "s.yaml",
        f"""
        http:
          address: 127.0.0.1:{port}
        input:
          http_server:
            address: 127.0.0.1:0
            path: /in
            timeout: 20s
        output:
          http_server:
            timeout: 1s
        """,
        port,
    )
    wait_ready(run)
    in_port = own_port(run, INPUT)
    started = time.monotonic()
    empty = httpx.get(f"http://127.0.0.1:{port}/get", timeout=10)
    assert empty.status_code == 408
    assert time.monotonic() - started >= 0.9  # it waited `timeout` for a message

    answers: list[httpx.Response] = []
    post = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"http://127.0.0.1:{in_port}/in", content=b"hello", timeout=30)
        )
    )
    post.start()
    time.sleep(1.0)
    assert post.is_alive()  # not written until a client received it
    got = httpx.get(f"http://127.0.0.1:{port}/get", timeout=10)
    assert (got.status_code, got.text) == (200, "hello")
    post.join(timeout=10)
    assert [a.status_code for a in answers] == [200]
    assert run.stop() == 0


def test_stream_path_streams_messages_as_chunks_and_a_batch_is_one_multipart_get(
    tmp_path: Path, runs: list[Run]
) -> None:
    run = start(
        runs,
        tmp_path / "s.yaml",
        """
        http:
          enabled: false
        input:
          generate:
            interval: 20ms
            batch_size: 3
            mapping: root = counter().string()
        output:
          http_server:
            address: 127.0.0.1:0
            timeout: 1s
        """,
    )
    base = f"http://127.0.0.1:{own_port(run)}"
    with httpx.stream("GET", f"{base}/get/stream", timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["transfer-encoding"] == "chunked"
        lines: list[str] = []
        for line in resp.iter_lines():
            lines.append(line)
            if len(lines) == 8:
                break
    # each message and a newline; a batch of several ends with an empty line
    assert lines == ["1", "2", "3", "", "4", "5", "6", ""]

    got = httpx.get(f"{base}/get", timeout=10)
    kind = got.headers["content-type"]
    assert kind.startswith("multipart/form-data; boundary=")
    doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {kind}\r\n\r\n".encode() + got.content
    )
    parts = [p.get_payload(decode=True) for p in doc.iter_parts()]  # type: ignore[attr-defined]
    assert len(parts) == 3
    first = int(parts[0])
    assert parts == [str(first + i).encode() for i in range(3)]
    assert run.stop() == 0


def test_a_websocket_receives_each_message_as_a_frame(tmp_path: Path, runs: list[Run]) -> None:
    port = free_port()
    run = start(
        runs,
        tmp_path / "s.yaml",
        f"""
        http:
          address: 127.0.0.1:{port}
        input:
          generate:
            interval: 20ms
            mapping: root = "m" + counter().string()
        output:
          http_server:
            ws_path: /live
            timeout: 1s
        """,
        port,
    )
    wait_ready(run)
    with connect(f"ws://127.0.0.1:{port}/live", open_timeout=10) as ws:
        frames = [ws.recv(timeout=10) for _ in range(5)]
    assert frames == [b"m1", b"m2", b"m3", b"m4", b"m5"]
    # a plain GET there is told to upgrade
    assert httpx.get(f"http://127.0.0.1:{port}/live", timeout=10).status_code == 426
    assert run.stop() == 0


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_an_address_of_its_own_serves_https_with_cors(tmp_path: Path, runs: list[Run]) -> None:
    cert_file, key_file = _certificate(tmp_path)
    run = start(
        runs,
        tmp_path / "s.yaml",
        f"""
        http:
          enabled: false
        input:
          generate:
            interval: 20ms
            mapping: root = counter().string()
        output:
          http_server:
            address: 127.0.0.1:0
            path: /readings
            stream_path: ""
            ws_path: ""
            timeout: 1s
            cert_file: {cert_file}
            key_file: {key_file}
            cors:
              enabled: true
              allowed_origins: [ https://hmi.plant.example ]
        """,
    )
    port = own_port(run)
    assert OWN.search(run.logs()).group(1) == "https"  # type: ignore[union-attr]
    trusted = ssl.create_default_context(cafile=str(cert_file))
    with httpx.Client(verify=trusted, timeout=10) as client:
        got = client.get(
            f"https://127.0.0.1:{port}/readings", headers={"Origin": "https://hmi.plant.example"}
        )
        assert (got.status_code, got.text) == (200, "1")
        assert got.headers["access-control-allow-origin"] == "https://hmi.plant.example"
        assert client.get(f"https://127.0.0.1:{port}/get/stream").status_code == 404
    with pytest.raises(httpx.TransportError):  # plain HTTP is not served
        httpx.get(f"http://127.0.0.1:{port}/readings", timeout=5)
    assert run.stop() == 0


# -- stopping with messages not delivered --------------------------------------------------------


def _broker(fn: Any) -> Any:
    async def with_channel() -> Any:
        connection = await aio_pika.connect(AMQP)
        try:
            return await fn(await connection.channel())
        finally:
            await connection.close()

    return asyncio.run(with_channel())


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of the test's own, deleted afterwards."""
    name = f"sf-test-hso-{uuid.uuid4().hex[:8]}"

    async def declare(channel: Any) -> None:
        await channel.declare_queue(name, durable=False)

    _broker(declare)
    yield name

    async def delete(channel: Any) -> None:
        await channel.queue_delete(name)

    _broker(delete)


def _publish(queue: str, bodies: list[bytes]) -> None:
    async def publish(channel: Any) -> None:
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)

    _broker(publish)


def _depth(queue: str) -> int:
    async def depth(channel: Any) -> int:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count)

    return int(_broker(depth))


def test_messages_not_delivered_at_stop_come_again_from_a_redelivering_input(
    tmp_path: Path, runs: list[Run], queue: str
) -> None:
    _publish(queue, [b"m1", b"m2", b"m3", b"m4"])
    port = free_port()
    body = f"""
        http:
          address: 127.0.0.1:{port}
        input:
          amqp_0_9:
            urls: [ {AMQP} ]
            queue: {queue}
            prefetch_count: 1
        output:
          http_server:
            address: 127.0.0.1:0
            timeout: 1s
        """
    first = start(runs, tmp_path / "first.yaml", body, port)
    base = f"http://127.0.0.1:{own_port(first)}"
    assert [httpx.get(f"{base}/get", timeout=10).text for _ in range(2)] == ["m1", "m2"]
    wait_until(
        lambda: metric(first, "streamforge_http_server_output_waiting", "output") == 1,
        30,
        "m3 waiting at the output for a client that does not come",
    )
    assert first.stop() == 0
    assert "not delivered: no client took it before the stream stopped" in first.logs()
    wait_until(lambda: _depth(queue) == 2, 10, "m3 and m4 back in the queue")

    again = start(runs, tmp_path / "again.yaml", body, port)
    base = f"http://127.0.0.1:{own_port(again)}"
    assert [httpx.get(f"{base}/get", timeout=10).text for _ in range(2)] == ["m3", "m4"]
    assert again.stop() == 0
    wait_until(lambda: _depth(queue) == 0, 10, "every message acknowledged")


# -- lint -----------------------------------------------------------------------------------------


def lint(*paths: Path) -> tuple[int, list[str]]:
    """`streamforge lint PATHS`: its exit code and lines, with the folder left out."""
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", "lint", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = (done.stdout + done.stderr).replace(str(paths[0].parent) + "/", "").splitlines()
    return done.returncode, lines


def test_lint_names_each_bad_field_at_its_place(tmp_path: Path) -> None:
    code, lines = lint(
        write(
            tmp_path / "s.yaml",
            """
            input:
              generate:
                mapping: root = "x"
            output:
              http_server:
                address: localhost
                path: get
                allowed_verbs: []
                timeout: soon
                cors:
                  enabled: true
                  alowed_origins: [ "*" ]
            """,
        )
    )
    assert code == 1
    assert lines == [
        "s.yaml:6:14: field address: invalid http address 'localhost': expected host:port",
        "s.yaml:7:11: field path: 'get' must start with / (or be empty to serve nothing there)",
        "s.yaml:8:20: field allowed_verbs: name at least one verb (GET)",
        "s.yaml:9:14: field timeout: invalid duration 'soon': expected a number with a unit "
        "such as 500ms, 1s, 1m30s",
        's.yaml:12:7: unknown field "alowed_origins" in output http_server.cors, did you mean '
        '"allowed_origins"?',
    ]


#: output fields lint refuses as a whole, and what it says at the output's place
REFUSED = [
    (
        "path: /metrics",
        "path: /metrics is served by the stream's HTTP server itself; choose another path "
        "or give the output an address of its own",
    ),
    (
        "cert_file: ./server.pem\n    key_file: ./server.key",
        "cert_file: TLS needs an address of the output's own; the stream's HTTP server "
        "(http.address) serves plain HTTP",
    ),
    (
        "address: 127.0.0.1:8443\n    cert_file: ./server.pem",
        "cert_file and key_file: TLS needs both (or neither)",
    ),
    (
        "address: 127.0.0.1:8443\n    cert_file: ./missing.pem\n    key_file: ./missing.key",
        "cert_file: ./missing.pem: no such readable file",
    ),
    ("stream_path: /get", "stream_path: /get is also path"),
    (
        'path: ""\n    stream_path: ""\n    ws_path: ""',
        "path, stream_path and ws_path are all empty: nothing would serve",
    ),
]


def test_lint_refuses_what_cannot_be_served_at_the_outputs_place(tmp_path: Path) -> None:
    configs = []
    for n, (fields, _) in enumerate(REFUSED):
        config = tmp_path / f"s{n}.yaml"
        config.write_text(
            'input:\n  generate:\n    mapping: root = "x"\noutput:\n  http_server:\n    '
            + fields
            + "\n"
        )
        configs.append(config)
    assert lint(*configs) == (
        1,
        [f"s{n}.yaml:5:3: output 'http_server' (output): {p}" for n, (_, p) in enumerate(REFUSED)],
    )


def test_lint_passes_connects_documented_shapes(tmp_path: Path) -> None:
    config = write(
        tmp_path / "s.yaml",
        """
        input:
          generate:
            mapping: root = "x"
        output:
          http_server:
            address: ""
            path: /get
            stream_path: /get/stream
            ws_path: /get/ws
            allowed_verbs: [ GET ]
            timeout: 5s
            cert_file: ""
            key_file: ""
            cors:
              enabled: false
              allowed_origins: []
        """,
    )
    assert lint(config) == (0, [])
