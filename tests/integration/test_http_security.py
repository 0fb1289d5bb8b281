"""HTTPS and basic auth for `http_client`, and the `http_server` input's 408 and 503 answers.

The HTTPS peer is the stdlib http.server wrapped with `ssl`, its certificates generated with
`cryptography`: one signed by a generated CA, one self-signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from peers.mosquitto import TlsFiles, _write_pki
from peers.ports import free_port

import streamforge.inputs.http_server as http_server_module
from streamforge.inputs.http_server import HttpServerInput

CLI = [sys.executable, "-m", "streamforge", "run"]
USER, PASSWORD = "sf-user", "sf-secret"


# -- an HTTPS server that checks basic auth ------------------------------------------------------


@dataclass
class HttpsServer:
    """Answers 200 to requests with the right basic auth, 401 otherwise; records bodies."""

    cert: Path
    key: Path
    port: int = 0
    bodies: list[bytes] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/in") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpsServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {token}":
                    reply = b"bad credentials"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="sf"')
                else:
                    outer.bodies.append(body)
                    reply = b""
                    self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself (no CA anyone trusts)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "self-signed.pem", directory / "self-signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return _write_pki(tmp_path_factory.mktemp("https-pki"))


@pytest.fixture(scope="module")
def https(pki: TlsFiles) -> Iterator[HttpsServer]:
    server = HttpsServer(pki.cert, pki.key).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https_self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    cert, key = _self_signed(tmp_path_factory.mktemp("self-signed"))
    server = HttpsServer(cert, key).start()
    yield server
    server.stop()


# -- running streams -----------------------------------------------------------------------------


class Run:
    """`streamforge run` in a subprocess; its log goes to a file."""

    def __init__(self, tmp_path: Path, name: str, body: str) -> None:
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(textwrap.dedent(body).lstrip())
        self.log_path = tmp_path / f"{name}.log"
        self._fh = open(self.log_path, "wb")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            [*CLI, str(cfg)], stdout=self._fh, stderr=subprocess.STDOUT, env=dict(os.environ)
        )

    @property
    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended while waiting for {what}:\n{self.logs}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.logs}")
            time.sleep(0.02)

    def finish(self, stop: bool = False, timeout: float = 20.0) -> int:
        if stop and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._fh.close()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run._fh.close()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def client_stream(url: str, tls: str, auth: str, dead_letters: Path, count: int) -> str:
    """`count` numbered messages sent by http_client `hout`; failures to `dead_letters`."""
    return f"""
    input:
      generate:
        count: {count}
        interval: ""
        mapping: 'root = "msg-%d".format(counter())'
    output:
      fallback:
        - label: hout
          http_client:
            url: "{url}"
            verb: POST
            retries: 0
            timeout: 10s
            {tls}
            {auth}
        - file:
            path: "{dead_letters}"
          processors:
            - mapping: 'root = content().string() + " | " + @fallback_error'
    http:
      enabled: false
    """


GOOD_AUTH = f"basic_auth: {{ enabled: true, username: {USER}, password: {PASSWORD} }}"


# -- http_client ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["right_ca", "skip_verify_self_signed"])
def test_https_delivers_every_message_when_the_certificate_is_trusted(
    case: str,
    pki: TlsFiles,
    https: HttpsServer,
    https_self_signed: HttpsServer,
    tmp_path: Path,
    runs: list[Run],
) -> None:
    if case == "right_ca":
        server, tls = https, f"tls: {{ enabled: true, root_cas_file: {pki.ca} }}"
    else:
        server, tls = https_self_signed, "tls: { enabled: true, skip_cert_verify: true }"
    before = len(server.bodies)
    dlq = tmp_path / "dlq.txt"
    n = 300
    run = Run(tmp_path, case, client_stream(server.url(), tls, GOOD_AUTH, dlq, n))
    runs.append(run)
    assert run.finish() == 0, run.logs
    got = server.bodies[before:]
    assert sorted(got) == sorted(f"msg-{i}".encode() for i in range(1, n + 1))
    assert lines(dlq) == []


@pytest.mark.parametrize(
    "case, expected",
    [
        ("wrong_ca", "CERTIFICATE_VERIFY_FAILED"),
        ("self_signed_verified", "CERTIFICATE_VERIFY_FAILED"),
        ("wrong_password", "HTTP 401 Unauthorized: bad credentials"),
    ],
)
def test_tls_and_auth_failures_are_clear_message_errors_routed_by_fallback(
    case: str,
    expected: str,
    pki: TlsFiles,
    https: HttpsServer,
    https_self_signed: HttpsServer,
    tmp_path: Path,
    runs: list[Run],
) -> None:
    server, auth = https, GOOD_AUTH
    tls = f"tls: {{ enabled: true, root_cas_file: {pki.ca} }}"
    if case == "wrong_ca":
        tls = f"tls: {{ enabled: true, root_cas_file: {pki.other_ca} }}"
    elif case == "self_signed_verified":
        server, tls = https_self_signed, "tls: { enabled: true, skip_cert_verify: false }"
    else:
        auth = f"basic_auth: {{ enabled: true, username: {USER}, password: wrong }}"
    before = len(server.bodies)
    dlq = tmp_path / "dlq.txt"
    run = Run(tmp_path, case, client_stream(server.url(), tls, auth, dlq, 3))
    runs.append(run)
    assert run.finish() == 0, run.logs
    assert server.bodies[before:] == []
    failed = lines(dlq)
    assert sorted(line.split(" | ")[0] for line in failed) == ["msg-1", "msg-2", "msg-3"]
    for line in failed:
        reason = line.split(" | ", 1)[1]
        assert reason.startswith(f"http_client hout: POST {server.url()}: "), reason
        assert expected in reason, reason


# -- http_server ---------------------------------------------------------------------------------


def _post(port: int, body: bytes, query: str = "") -> tuple[int, str, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", f"/in{query}", body=body)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), time.monotonic() - started
    finally:
        conn.close()


def _metric(port: int, prefix: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return "\n".join(ln for ln in text.splitlines() if ln.startswith(prefix))


def test_requests_not_written_before_timeout_get_408_and_the_stream_goes_on(
    tmp_path: Path, runs: list[Run]
) -> None:
    port, http_port = free_port(), free_port()
    out = tmp_path / "out.txt"
    run = Run(
        tmp_path,
        "slow",
        f"""
        input:
          label: hin
          http_server:
            address: 127.0.0.1:{port}
            path: /in
            timeout: 300ms
        pipeline:
          processors:
            - sleep:
                duration: '${{! @delay | "0s" }}'
        output:
          file:
            path: "{out}"
        http:
          address: 127.0.0.1:{http_port}
        """,
    )
    runs.append(run)
    run.wait_for(lambda: "http_server hin listening" in run.logs, "the listener")
    # the stream takes `slow` and sleeps on it longer than the timeout
    status, body, took = _post(port, b"slow", "?delay=1500ms")
    assert status == 408 and "not written within timeout 0.3s" in body, body
    assert took < 1.0
    # `queued` waits behind it and times out before the stream reads it
    status, body, _ = _post(port, b"queued")
    assert status == 408 and "dropped before the stream read it" in body, body
    # a request the stream had already taken is still written (at least once)
    run.wait_for(lambda: lines(out) == ["slow"], "the slow message to be written")
    status, body, _ = _post(port, b"fast")
    assert (status, body) == (200, "")
    assert lines(out) == ["slow", "fast"], "a request dropped after its 408 was written"
    rejected = _metric(http_port, "streamforge_http_server_rejected_total")
    assert 'component="hin"' in rejected and 'status="408"' in rejected
    assert rejected.rstrip().endswith(" 2.0"), rejected
    assert "HTTP 408" in run.logs and "component=hin" in run.logs
    assert run.finish(stop=True) == 0, run.logs


def test_a_full_queue_answers_503_at_once_and_closing_answers_the_waiting_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server_module, "MAX_QUEUED", 2)
    source = HttpServerInput(
        {"address": "127.0.0.1:0", "path": "/in", "allowed_verbs": ["POST"], "timeout": "10s"}
    )
    reader = source.open("http_server", None)
    port = reader.port  # type: ignore[attr-defined]
    answers: list[tuple[int, str, float]] = []
    waiting = [
        threading.Thread(target=lambda b=b: answers.append(_post(port, b))) for b in (b"a", b"b")
    ]
    try:
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 5
        while len(reader._queue) < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        status, body, took = _post(port, b"c")
        assert (status, body) == (503, "too many requests waiting\n")
        assert took < 1.0
    finally:
        reader.close()
        for t in waiting:
            t.join(timeout=5)
    assert sorted((s, b) for s, b, _ in answers) == [(503, "server closing\n")] * 2
