"""Lint accepts exactly what components accept; env vars swap before YAML when needed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streamforge.config import lint_paths, load_stream, load_yaml
from streamforge.configtest.discover import discover
from streamforge.configtest.runner import run_file

Write = Callable[..., Path]


def generate_with_interval(interval: str) -> str:
    return f"""
        input:
          generate:
            interval: '{interval}'
            mapping: 'root = "x"'
        output:
          drop: {{}}
        """


@pytest.mark.parametrize(
    "interval",
    ["@every 5m", "@every 250ms", "1s", "", "0 */5 * * * *", "0,30 */2 * * *", "@daily",
     "TZ=Europe/Berlin 30 6 * * 1-5"],
)  # fmt: skip
def test_generate_intervals_the_input_accepts_lint_clean(write: Write, interval: str) -> None:
    path = write(generate_with_interval(interval))
    assert lint_paths([path]) == []
    load_stream(path)


@pytest.mark.parametrize(
    "interval",
    ["@every soon", "5 minutes", "61 * * * * *", "@fortnightly", "TZ=Mars/Olympus 0 * * * *"],
)
def test_generate_intervals_the_input_rejects_fail_lint(write: Write, interval: str) -> None:
    problems = lint_paths([write(generate_with_interval(interval))])
    assert [(p.location.line, p.location.column) for p in problems] == [(3, 15)]
    assert "interval" in problems[0].message


def test_env_vars_in_flow_mappings_swap_before_parsing() -> None:
    source = "output: { file: { path: ${DIR:/tmp/x}/out.txt, codec: ${CODEC} } }\n"
    doc = load_yaml(source, "s.yaml", environ={"CODEC": "lines"})
    assert doc.problems == []
    assert doc.data == {"output": {"file": {"path": "/tmp/x/out.txt", "codec": "lines"}}}
    missing = load_yaml(source, "s.yaml", environ={})
    assert [(p.location.line, p.location.column) for p in missing.problems] == [(1, 55)]
    assert 'environment variable "CODEC" is not set' in missing.problems[0].message


def test_invalid_yaml_stays_invalid_after_swapping() -> None:
    doc = load_yaml("input: { generate: ${X:1} ]\n", "s.yaml", environ={})
    assert doc.data is None
    assert doc.problems and "invalid YAML" in doc.problems[0].message


def test_unit_tests_of_output_processors_see_errored_messages(write: Write) -> None:
    path = write(
        """
        output:
          drop: {}
          processors:
            - mutation: 'root.why = error()'
        pipeline:
          processors:
            - mutation: 'root.n = this.n.number()'
            - mutation: 'root.skipped = false'
        tests:
          - name: dead-letter processors record the error
            target_processors: /output/processors
            input_batch:
              - json_content: {n: 1}
            output_batches:
              - - json_equals: {n: 1, why: null}
          - name: pipeline steps still skip failed messages
            input_batch:
              - json_content: {n: x}
            output_batches:
              - - json_equals: {n: x}
                  bloblang: errored()
        """
    )
    files, problems = discover([str(path)])
    assert problems == []
    results = run_file(files[0])
    assert [r.failures for r in results] == [[], []]


def test_string_fields_with_their_own_parser_fail_lint_at_the_value(write: Write) -> None:
    path = write(
        """
        input:
          http_server:
            address: 127.0.0.1:0
            rate_limit: lots
        output:
          drop: {}
        """
    )
    problems = lint_paths([path])
    assert [(p.location.line, p.location.column) for p in problems] == [(4, 17)]
    assert "rate_limit" in problems[0].message and "lots" in problems[0].message
