"""`rate_limit` of the `http_client` input and output and the `http` processor: lint reports an
undefined label at the field, an empty one names none, and waiting takes one access per call."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from streamforge.config import lint_paths
from streamforge.plugin import RateLimit, registry
from streamforge.plugin.rate_limiting import RateLimited
from streamforge.plugin.testing import PluginTestContext

STREAM = """\
input:
  http_client:
    url: http://127.0.0.1:8080/values
    rate_limit: quota
pipeline:
  processors:
    - http:
        url: http://127.0.0.1:8080/enrich
        rate_limit: quota
output:
  http_client:
    url: http://127.0.0.1:8080/ingest
    rate_limit: quota
rate_limit_resources:
  - label: quota
    local:
      count: 2
      interval: 1s
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "stream.yaml"
    path.write_text(text)
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def test_the_benthos_shaped_config_lints_clean(tmp_path: Path) -> None:
    assert problems(tmp_path, STREAM) == []


@pytest.mark.parametrize(
    ("line", "where"),
    [(4, "4:17"), (9, "9:21"), (13, "13:17")],
    ids=["input", "processor", "output"],
)
def test_an_undefined_rate_limit_is_reported_at_the_field(
    tmp_path: Path, line: int, where: str
) -> None:
    lines = STREAM.splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace("quota", "qouta")
    assert problems(tmp_path, "".join(lines)) == [
        f'stream.yaml:{where}: field rate_limit: rate_limit resource "qouta" is not defined, '
        'did you mean "quota"?'
    ]


def test_without_rate_limit_resources_the_error_says_where_to_declare_one(tmp_path: Path) -> None:
    text = STREAM[: STREAM.index("rate_limit_resources")]
    assert problems(tmp_path, text) == [
        f'stream.yaml:{where}: field rate_limit: rate_limit resource "quota" is not defined '
        "(declare it under rate_limit_resources)"
        for where in ("4:17", "9:21", "13:17")
    ]


def test_an_empty_rate_limit_names_none(tmp_path: Path) -> None:
    text = STREAM.replace("rate_limit: quota", 'rate_limit: ""')
    assert problems(tmp_path, text) == []


@pytest.mark.parametrize(("kind", "name"), [("input", "http_client"), ("output", "http_client"),
                                            ("processor", "http")])  # fmt: skip
def test_the_field_references_rate_limit_resources(kind: str, name: str) -> None:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None
    field = next(f for f in spec.fields if f.name == "rate_limit")
    assert (field.type, field.default, field.references) == ("string", "", "rate_limit")


class Flaky(RateLimit):
    """Fails twice, then allows one access per call."""

    def __init__(self) -> None:
        self.calls = 0

    def access(self) -> float:
        self.calls += 1
        if self.calls <= 2:
            raise ConnectionError("limit store unreachable")
        return 0.0


class Closed(RateLimit):
    def access(self) -> float:
        return 60.0


def test_a_failing_limit_is_asked_again_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streamforge.plugin.rate_limiting.FAILURE_WAIT", 0.01)
    limit = Flaky()
    limited = RateLimited("quota", PluginTestContext(rate_limits={"quota": limit}))
    assert limited.wait(threading.Event()) is True
    assert limit.calls == 3


def test_a_stopping_component_stops_waiting() -> None:
    limited = RateLimited("quota", PluginTestContext(rate_limits={"quota": Closed()}))
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert limited.wait(stop) is False
    assert time.monotonic() - started < 5


def test_no_label_waits_for_nothing_and_an_unknown_one_fails_the_build() -> None:
    assert RateLimited("", PluginTestContext()).wait(threading.Event()) is True
    with pytest.raises(LookupError, match="quota"):
        RateLimited("quota", PluginTestContext())
