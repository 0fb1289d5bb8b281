"""The `http` processor in whole runs against a real loopback HTTP service: answers replace
messages, request headers from metadata, every authentication method, multipart batches,
statuses that flag messages, and a rate limit resource."""

from __future__ import annotations

import base64
import json
import textwrap
import threading
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from peers.http_echo import HttpEcho

from streamforge.config.loader import load_stream
from streamforge.connectors.http_auth import oauth1_header
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams


def run(tmp_path: Path, yaml_text: str) -> int:
    load_builtins()
    config = tmp_path / "stream.yaml"
    config.write_text(yaml_text)
    stream = load_stream(config)
    return run_streams([stream], RunOptions(workers=1, http=False, configure_logging=False))


def through(
    tmp_path: Path,
    count: int,
    mapping: str,
    processors: str,
    *,
    batch_size: int = 1,
    output: str = "",
    resources: str = "",
) -> Path:
    """Run `count` generated messages through `processors` into `output` (a lines file by
    default, whose path is returned)."""
    out = tmp_path / "out.jsonl"
    output = textwrap.dedent(output).strip() or f"file: {{ path: {out}, codec: lines }}"
    text = (
        f"input:\n  generate:\n    count: {count}\n    batch_size: {batch_size}\n"
        f'    interval: ""\n    mapping: {json.dumps(mapping)}\n'
        "pipeline:\n  processors:\n"
        + textwrap.indent(textwrap.dedent(processors).strip(), "    ")
        + "\n"
        + (textwrap.dedent(resources).strip() + "\n" if resources else "")
        + "output:\n"
        + textwrap.indent(output, "  ")
        + "\n"
    )
    assert run(tmp_path, text) == 0
    return out


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_answers_replace_messages_with_status_and_headers(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    mapping = 'root = {"n": counter()}\nmeta site_id = "hamburg"\nmeta other = "secret"'
    out = through(
        tmp_path,
        3,
        mapping,
        f"""
        - http:
            url: {http_echo.url("/upper")}?n=${{! this.n }}
            verb: PUT
            headers:
              Content-Type: application/json
            metadata:
              include_prefixes: [ site_ ]
            extract_headers:
              include_patterns: [ "^x-echo" ]
            basic_auth: {{ enabled: true, username: ada, password: lovelace }}
        - mapping: |
            root = this
            root.status = @http_status_code
            root.length = meta("x-echo-length")
        """,
    )
    got = lines(out)
    assert [g["N"] for g in got] == [1, 2, 3]
    assert {g["status"] for g in got} == {200}
    assert got[0]["length"] == str(len('{"n":1}'))
    sent = http_echo.requests
    assert [r.method for r in sent] == ["PUT"] * 3
    assert [r.path for r in sent] == ["/upper?n=1", "/upper?n=2", "/upper?n=3"]
    assert sent[0].headers["site_id"] == "hamburg" and "other" not in sent[0].headers
    assert sent[0].headers["content-type"] == "application/json"
    basic = "Basic " + base64.b64encode(b"ada:lovelace").decode()
    assert {r.headers["authorization"] for r in sent} == {basic}


def test_oauth2_token_is_fetched_once_and_sent_as_bearer(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    out = through(
        tmp_path,
        4,
        'root = {"v": counter()}',
        f"""
        - http:
            url: {http_echo.url("/upper")}
            oauth2:
              enabled: true
              client_key: client
              client_secret: secret
              token_url: {http_echo.url("/token")}
              scopes: [ read, write ]
              endpoint_params: {{ audience: plant }}
        """,
    )
    assert [g["V"] for g in lines(out)] == [1, 2, 3, 4]
    token_requests = [r for r in http_echo.requests if r.path == "/token"]
    assert len(token_requests) == 1
    form = dict(p.split("=", 1) for p in token_requests[0].body.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "read+write" and form["audience"] == "plant"
    calls = [r for r in http_echo.requests if r.path == "/upper"]
    assert {r.headers["authorization"] for r in calls} == {"Bearer token-1"}


def test_jwt_and_oauth1_sign_the_requests(tmp_path: Path, http_echo: HttpEcho) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    through(
        tmp_path,
        1,
        'root = "x"',
        f"""
        - http:
            url: {http_echo.url("/upper/jwt")}
            jwt:
              enabled: true
              private_key_file: {pem}
              signing_method: RS256
              claims: {{ sub: gateway-7, aud: plant }}
              headers: {{ kid: k1 }}
        - http:
            url: {http_echo.url("/upper/oauth?a=1")}
            verb: GET
            oauth:
              enabled: true
              consumer_key: ck
              consumer_secret: cs
              access_token: at
              access_token_secret: ats
        """,
    )
    by_path = {r.path: r for r in http_echo.requests}
    token = by_path["/upper/jwt"].headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="plant")
    assert claims["sub"] == "gateway-7"
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    header = by_path["/upper/oauth?a=1"].headers["authorization"]
    fields = dict(part.strip().split("=", 1) for part in header.removeprefix("OAuth ").split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    expected = oauth1_header(
        "GET",
        http_echo.url("/upper/oauth?a=1"),
        {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at",
         "access_token_secret": "ats"},
        nonce=fields["oauth_nonce"],
        timestamp=fields["oauth_timestamp"],
    )  # fmt: skip
    assert header == expected
    assert fields["oauth_consumer_key"] == "ck" and fields["oauth_token"] == "at"


def test_batch_as_multipart_sends_one_request_per_batch(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    mapping = 'root = "part-" + counter().string()'
    out = through(
        tmp_path,
        3,
        mapping,
        f"""
        - http:
            url: {http_echo.url("/parts")}
            batch_as_multipart: true
        """,
        batch_size=3,
    )
    assert out.read_text().splitlines() == ["PART-1", "PART-2", "PART-3"]
    calls = [r for r in http_echo.requests if r.path == "/parts"]
    assert len(calls) == 1
    assert calls[0].headers["content-type"].startswith("multipart/mixed; boundary=")


def test_failed_statuses_flag_messages_for_routing(tmp_path: Path, http_echo: HttpEcho) -> None:
    ok, dead = tmp_path / "ok.jsonl", tmp_path / "dead.jsonl"
    mapping = 'root = {"code": if counter() % 2 == 0 { 404 } else { 503 }}'
    through(
        tmp_path,
        4,
        mapping,
        f"""
        - http:
            url: {http_echo.url("/status/")}${{! this.code }}
            drop_on: [ 404 ]
            retries: 1
            retry_period: 10ms
        - catch:
            - mapping: |
                root = this
                root.error = error()
                root.status = @http_status_code
        """,
        output=f"""
        switch:
          cases:
            - check: this.exists("error")
              output:
                file: {{ path: {dead}, codec: lines }}
            - output:
                file: {{ path: {ok}, codec: lines }}
        """,
    )
    failed = lines(dead)
    assert len(failed) == 4 and not ok.exists()
    by_code: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for f in failed:
        by_code.setdefault(f["code"], []).append(f)
    assert all("HTTP 404" in f["error"] and f["status"] == 404 for f in by_code[404])
    assert all("after 1 retries" in f["error"] for f in by_code[503])
    calls = [r.path for r in http_echo.requests]
    assert calls.count("/status/404") == 2  # never retried
    assert calls.count("/status/503") == 4  # one retry each


def test_rate_limit_resource_spaces_the_requests(tmp_path: Path, http_echo: HttpEcho) -> None:
    out = through(
        tmp_path,
        4,
        'root = "r"',
        f"""
        - http:
            url: {http_echo.url("/upper")}
            rate_limit: one_per_200ms
            parallel: true
        """,
        resources="""
        rate_limit_resources:
          - label: one_per_200ms
            local:
              count: 1
              interval: 200ms
        """,
    )
    assert out.read_text().splitlines() == ["R"] * 4
    arrived = sorted(r.at for r in http_echo.requests)
    # one request per interval: from the second to the fourth two whole intervals pass
    assert arrived[3] - arrived[1] >= 0.35


def test_a_service_that_comes_back_within_the_retries_loses_nothing(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    http_echo.stop()
    restarter = threading.Timer(0.6, http_echo.start)
    restarter.start()
    try:
        out = through(
            tmp_path,
            5,
            'root = "m" + counter().string()',
            f"""
            - http:
                url: {http_echo.url("/upper")}
                retries: 30
                retry_period: 50ms
                max_retry_backoff: 200ms
            """,
        )
    finally:
        restarter.join()
    assert out.read_text().splitlines() == [f"M{i}" for i in range(1, 6)]
    assert len(http_echo.requests) == 5  # the first message waited while the service was down
