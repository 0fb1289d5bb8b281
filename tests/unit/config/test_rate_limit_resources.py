"""`rate_limit_resources`: checked at file:line:col, referenced by label, built once per stream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from streamforge.config import lint_paths, load_stream, stream_schema
from streamforge.engine.instantiate import StreamBuilder, close_stream_caches
from streamforge.processors.rate_limit import RateLimitProcessor
from streamforge.processors.rate_limit.local import LocalRateLimit

Write = Callable[..., Path]

STREAM = """
input:
  generate:
    count: 1
    mapping: root = {}
pipeline:
  processors:
    - rate_limit:
        resource: ten_per_second
    - rate_limit:
        resource: ten_per_second
output:
  drop: {}
rate_limit_resources:
  - label: ten_per_second
    local:
      count: 10
      interval: 1s
"""


def problems(path: Path) -> list[str]:
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


def test_rate_limit_resources_load_with_defaults_and_are_shared(write: Write) -> None:
    path = write(STREAM.replace("      count: 10\n      interval: 1s\n", "      {}\n"))
    assert problems(path) == []
    stream = load_stream(path)
    limit = stream.rate_limits["ten_per_second"]
    assert (limit.kind, limit.type, limit.label) == ("rate_limit", "local", "ten_per_second")
    assert limit.conf == {"count": 1000, "interval": "1s"}
    builder = StreamBuilder(stream)
    try:
        first, second = builder.build_processors(stream.processors)
        assert isinstance(first, RateLimitProcessor) and isinstance(second, RateLimitProcessor)
        assert isinstance(first.limit, LocalRateLimit)
        assert first.limit is second.limit  # one bucket for every user of the label
        assert (first.limit.size, first.limit.interval) == (1000, 1.0)
    finally:
        close_stream_caches(stream)


def test_rate_limit_resources_under_resources_work_too(write: Write) -> None:
    text = STREAM.replace(
        "rate_limit_resources:\n  - label", "resources:\n  rate_limit_resources:\n  - label"
    )
    path = write(text)
    assert problems(path) == []
    assert load_stream(path).rate_limits["ten_per_second"].conf["count"] == 10


def test_a_label_defined_twice_is_a_problem_at_the_second(write: Write) -> None:
    path = write(STREAM + "  - label: ten_per_second\n    local: {}\n")
    assert problems(path) == [
        'stream.yaml:18:12: duplicate label "ten_per_second" (first used at line 14)'
    ]


def test_an_unknown_label_is_a_problem_at_the_reference_with_did_you_mean(write: Write) -> None:
    path = write(
        STREAM.replace(
            "resource: ten_per_second\n    - rate", "resource: ten_per_secnd\n    - rate"
        )
    )
    assert problems(path) == [
        'stream.yaml:8:19: field resource: rate_limit resource "ten_per_secnd" is not defined, '
        'did you mean "ten_per_second"?'
    ]


def test_a_reference_without_any_rate_limit_says_where_to_declare_it(write: Write) -> None:
    path = write(STREAM.split("rate_limit_resources:")[0])
    assert problems(path) == [
        'stream.yaml:8:19: field resource: rate_limit resource "ten_per_second" is not defined '
        "(declare it under rate_limit_resources)",
        'stream.yaml:10:19: field resource: rate_limit resource "ten_per_second" is not defined '
        "(declare it under rate_limit_resources)",
    ]


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("count: 10", "stream.yaml:16:14: field count: must be larger than zero, got 0"),
        ("interval: 1s", "stream.yaml:17:17: field interval: invalid duration 'soon'"),
        ("local:", 'stream.yaml:15:5: unknown rate_limit type "locl", did you mean "local"?'),
    ],
)
def test_bad_rate_limit_configs_are_problems_at_their_place(
    write: Write, replace: str, expected: str
) -> None:
    bad = {"count: 10": "count: 0", "interval: 1s": "interval: soon", "local:": "locl:"}[replace]
    found = problems(write(STREAM.replace(replace, bad)))
    assert any(p.startswith(expected) for p in found), found


def test_a_rate_limit_without_a_label_is_a_problem(write: Write) -> None:
    path = write(STREAM.replace("  - label: ten_per_second\n    local:", "  - local:"))
    found = problems(path)
    assert "stream.yaml:14:5: rate_limit resource needs a label to be referenced by" in found


def test_rate_limits_have_no_resource_reference_form(write: Write) -> None:
    path = write(STREAM + "  - label: other\n    resource: ten_per_second\n")
    found = problems(path)
    assert any('unknown rate_limit type "resource"' in p for p in found), found


def test_the_schema_knows_rate_limit_resources(write: Write) -> None:
    import yaml

    schema = stream_schema()
    jsonschema.validate(yaml.safe_load(STREAM), schema)
    bad = yaml.safe_load(STREAM.replace("count: 10", "count: ten"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_rate_limits_come_from_resource_files_too(write: Write) -> None:
    from streamforge.cli import main

    resources = write(
        "rate_limit_resources:" + STREAM.split("rate_limit_resources:")[1], name="resources.yaml"
    )
    path = write(STREAM.split("rate_limit_resources:")[0])
    assert main(["run", str(path)]) == 1
    assert main(["lint", "-r", str(resources), str(path)]) == 0
