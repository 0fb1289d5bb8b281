"""HTTP components without a network: config specs, rate limits, path matching, circuit breaker."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.config import load_stream
from streamforge.config.model import ConfigError
from streamforge.connectors.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from streamforge.inputs.http_server import (
    RateLimit,
    _canonical,
    _multipart,
    _path_matcher,
    parse_rate_limit,
)
from streamforge.plugin import load_builtins, registry

load_builtins()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stream(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


# -- specs --------------------------------------------------------------------------------------


def test_http_server_defaults_follow_benthos(tmp_path: Path) -> None:
    cfg = load_stream(
        stream(tmp_path, "input:\n  http_server: {}\noutput:\n  drop: {}\n")
    ).input.conf
    assert cfg["path"] == "/post"
    assert cfg["allowed_verbs"] == ["POST"]
    assert cfg["timeout"] == "5s"
    assert cfg["rate_limit"] == ""
    assert cfg["sync_response"]["status"] == "200"
    assert cfg["sync_response"]["headers"] == {"Content-Type": "application/octet-stream"}
    assert cfg["sync_response"]["metadata_headers"] == {
        "include_prefixes": [],
        "include_patterns": [],
    }


def test_http_client_defaults_follow_benthos(tmp_path: Path) -> None:
    text = "input:\n  stdin: {}\noutput:\n  http_client:\n    url: http://x/y\n"
    cfg = load_stream(stream(tmp_path, text)).output.conf
    assert cfg["verb"] == "POST"
    assert cfg["timeout"] == "5s"
    assert cfg["retries"] == 3
    assert cfg["retry_period"] == "1s"
    assert cfg["max_retry_backoff"] == "300s"
    assert cfg["backoff_on"] == [429]
    assert cfg["drop_on"] == [] and cfg["successful_on"] == []
    assert cfg["max_in_flight"] == 64
    assert cfg["circuit_breaker"] == {"failures": 5, "reset_after": "30s"}
    assert cfg["basic_auth"]["enabled"] is False


def test_bad_interpolation_and_unknown_fields_are_config_problems(tmp_path: Path) -> None:
    text = (
        "input:\n  stdin: {}\noutput:\n  http_client:\n    url: 'http://x/${! this.( }'\n"
        "    retrys: 2\n"
    )
    with pytest.raises(ConfigError) as err:
        load_stream(stream(tmp_path, text))
    message = str(err.value)
    assert "bad interpolation" in message
    assert 'unknown field "retrys"' in message and "retries" in message


def test_http_client_without_url_is_a_problem(tmp_path: Path) -> None:
    text = "input:\n  stdin: {}\noutput:\n  http_client: {}\n"
    with pytest.raises(ConfigError, match='missing required field "url"'):
        load_stream(stream(tmp_path, text))


def test_specs_are_listed() -> None:
    assert registry.get("input", "http_server") is not None
    assert registry.get("output", "http_client") is not None


# -- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_forms() -> None:
    assert parse_rate_limit("100/1s") == (100, 1.0)
    assert parse_rate_limit(" 5 / 500ms ") == (5, 0.5)
    assert parse_rate_limit("") is None
    for bad in ("fast", "0/1s", "10/0s", "my_rate_limit_resource"):
        with pytest.raises(ValueError, match="rate_limit"):
            parse_rate_limit(bad)


def test_token_bucket_allows_bursts_then_refills() -> None:
    clock = Clock()
    limit = RateLimit(3, 1.0, clock=clock)
    assert [limit.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limit.take()
    assert wait == pytest.approx(1 / 3)
    clock.now += 0.34
    assert limit.take() == 0.0
    assert limit.take() > 0
    clock.now += 10
    assert [limit.take() for _ in range(3)] == [0.0, 0.0, 0.0]  # never more than the burst
    assert limit.take() > 0


# -- paths, headers, multipart ----------------------------------------------------------------


def test_path_matching() -> None:
    exact = _path_matcher("/post")
    assert exact.match("/post") and not exact.match("/post/x") and not exact.match("/posts")
    params = _path_matcher("/devices/{device}/values")
    m = params.match("/devices/pump-7/values")
    assert m is not None and m.groupdict() == {"device": "pump-7"}
    assert not params.match("/devices/a/b/values")
    prefix = _path_matcher("/api/")
    assert prefix.match("/api/") and prefix.match("/api/v1/x") and not prefix.match("/apix")


def test_header_names_are_canonical_as_in_benthos() -> None:
    assert _canonical("content-type") == "Content-Type"
    assert _canonical("X-REQUEST-ID") == "X-Request-Id"


def test_multipart_parts_become_messages_with_their_headers() -> None:
    body = (
        b"--b1\r\nContent-Type: text/plain\r\nX-Part: one\r\n\r\nfirst\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n\xff\x00second\r\n--b1--\r\n"
    )
    parts = _multipart("multipart/mixed; boundary=b1", body)
    assert parts is not None
    assert [p for p, _ in parts] == [b"first", b"\xff\x00second"]
    assert parts[0][1]["X-Part"] == "one"
    assert _multipart("multipart/mixed; boundary=b1", b"not multipart at all") is None


# -- circuit breaker ----------------------------------------------------------------------------


def test_circuit_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(3, 30.0, clock=Clock())
    breaker.failure("x")
    breaker.failure("x")
    breaker.success()  # a success in between resets the count
    breaker.failure("x")
    breaker.failure("x")
    assert breaker.state == CLOSED and breaker.allow()
    breaker.failure("refused")
    assert breaker.state == OPEN
    assert not breaker.allow()
    assert breaker.last_error == "refused"


def test_open_circuit_lets_one_trial_through_after_the_pause() -> None:
    clock = Clock()
    changes: list[tuple[str, bool]] = []
    breaker = CircuitBreaker(
        2, 30.0, clock=clock, on_change=lambda s, e, trial: changes.append((s, trial))
    )
    breaker.failure("a")
    breaker.failure("b")
    clock.now += 29.9
    assert not breaker.allow()
    assert breaker.retry_in() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # others wait for the trial's outcome
    breaker.failure("still down")
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 30
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED
    assert all(breaker.allow() for _ in range(5))
    assert changes == [
        (OPEN, False),
        (HALF_OPEN, False),
        (OPEN, True),
        (HALF_OPEN, False),
        (CLOSED, False),
    ]


def test_trial_without_verdict_lets_another_try() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.failure("x")
    clock.now += 5
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_zero_failures_disables_the_breaker() -> None:
    breaker = CircuitBreaker(0, 1.0, clock=Clock())
    for _ in range(100):
        breaker.failure("x")
    assert breaker.allow()
