"""`metrics.prometheus.push_url` and its companions as lint sees them: Benthos configs that
push to a Pushgateway load with Benthos' defaults; a URL or job that cannot work is refused at
the field that is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamforge.config import lint_paths, load_stream
from streamforge.config.secrets import redact_yaml

Write = Callable[..., Path]

HEAD = """
input:
  test_only_gen: {}
output:
  test_only_sink: {path: x}
metrics:
  prometheus:
"""


def lint(write: Write, fields: str) -> list[str]:
    path = write(HEAD + fields)
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


def test_a_benthos_push_config_loads_with_benthos_defaults(write: Write) -> None:
    path = write(
        HEAD
        + "    push_url: http://pushgateway:9091\n"
        + "    push_interval: 15s\n"
        + "    push_basic_auth: {username: pusher, password: s3cret}\n"
    )
    assert lint_paths([str(path)]) == []
    conf = load_stream(path).metrics["conf"]
    assert conf["push_url"] == "http://pushgateway:9091"
    assert conf["push_interval"] == "15s"
    assert conf["push_job_name"] == "benthos_push"
    assert conf["push_basic_auth"] == {"username": "pusher", "password": "s3cret"}


def test_host_and_port_alone_is_a_push_url(write: Write) -> None:
    assert lint(write, "    push_url: pushgateway:9091\n") == []


def test_the_push_password_is_a_secret(write: Write) -> None:
    path = write(HEAD + "    push_url: http://gw:9091\n    push_basic_auth: {password: s3cret}\n")
    shown = redact_yaml(path.read_text())
    assert "s3cret" not in shown and "push_url: http://gw:9091" in shown


def test_push_problems_are_reported_where_they_are(write: Write) -> None:
    assert lint(write, "    push_url: ftp://gw:9091\n") == [
        "stream.yaml:7:15: metrics prometheus: push_url: 'ftp://gw:9091': a Pushgateway URL is "
        "http:// or https://"
    ]
    assert lint(write, "    push_url: http://gw:9091/metrics/job/plant\n") == [
        "stream.yaml:7:15: metrics prometheus: push_url: 'http://gw:9091/metrics/job/plant': "
        "leave out /metrics/job/...: the job is push_job_name"
    ]
    assert lint(write, "    push_url: http://gw:99999\n") == [
        "stream.yaml:7:15: metrics prometheus: push_url: 'http://gw:99999': not a valid port"
    ]
    assert lint(write, "    push_url: http://gw:9091\n    push_job_name: ''\n") == [
        "stream.yaml:8:20: metrics prometheus: push_job_name: must not be empty when push_url "
        "is set"
    ]
    assert lint(write, "    push_url: http://gw:9091\n    push_interval: -1s\n") == [
        "stream.yaml:8:20: metrics prometheus: push_interval: must not be negative"
    ]
    [line] = lint(write, "    push_url: http://gw:9091\n    push_interval: often\n")
    assert line.startswith("stream.yaml:8:20:") and "invalid duration" in line
