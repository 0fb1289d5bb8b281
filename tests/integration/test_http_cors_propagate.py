"""`http_server.cors` and `http_client.propagate_response` through `streamforge run`: a browser's
preflight and request from an allowed origin, and a request answered with what the peer the
stream posts to answered."""

from __future__ import annotations

import http.client
from pathlib import Path

from peers.http_echo import HttpEcho
from peers.ports import free_port
from peers.stream_run import Run, wait_until, write


def _request(
    port: int, method: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, "/ask", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _up(port: int) -> bool:
    try:
        return _request(port, "GET")[0] == 405
    except OSError:
        return False


def test_http_client_response_answers_the_http_server_request(
    tmp_path: Path, runs: list[Run], http_echo: HttpEcho
) -> None:
    port = free_port()
    config = write(
        tmp_path / "relay.yaml",
        f"""
        input:
          http_server:
            address: 127.0.0.1:{port}
            path: /ask
            cors:
              enabled: true
              allowed_origins: [ "https://hmi.plant.example" ]
        output:
          http_client:
            url: {http_echo.url("/upper")}
            verb: POST
            propagate_response: true
        http:
          enabled: false
        """,
    )
    run = Run(config)
    runs.append(run)
    wait_until(lambda: _up(port), 30, "the http_server input")

    # the answer is what the peer answered: the body upper-cased, its header as metadata
    status, headers, body = _request(port, "POST", b"pressure ok")
    assert (status, body) == (200, b"PRESSURE OK")
    assert http_echo.requests[-1].body == b"pressure ok"
    assert "access-control-allow-origin" not in headers  # no Origin: no CORS headers

    origin = {"Origin": "https://hmi.plant.example"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    status, headers, _ = _request(port, "OPTIONS", headers=preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://hmi.plant.example"
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == "content-type"
    sent = len(http_echo.requests)

    status, headers, body = _request(port, "POST", b"from the hmi", origin)
    assert (status, body) == (200, b"FROM THE HMI")
    assert headers["access-control-allow-origin"] == "https://hmi.plant.example"
    assert headers["vary"] == "Origin"
    assert len(http_echo.requests) == sent + 1  # the preflight never reached the stream

    other = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    status, headers, _ = _request(port, "OPTIONS", headers=other)
    assert status == 405 and "access-control-allow-origin" not in headers
    status, headers, _ = _request(port, "POST", b"x", {"Origin": "https://elsewhere.example"})
    assert status == 200 and "access-control-allow-origin" not in headers
    assert run.stop() == 0
