"""`drop_on` output: the shapes Benthos documents lint clean, bad fields are refused at their
place, and what building refuses is reported at the component."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.plugin import load_builtins, registry


def lint(tmp_path: Path, text: str) -> list[str]:
    """What `streamforge lint` reports: config problems, then what building refuses."""
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    found = lint_paths([str(path)])
    if not found:
        found = build_problems(load_stream(path))
    return [str(p).replace(str(tmp_path) + "/", "") for p in found]


def test_benthos_shapes_lint(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { interval: 1s, mapping: 'root.reading = random_int(max: 100)' }
        output:
          broker:
            pattern: fan_out
            outputs:
              - file: { path: ./readings.jsonl }
              - drop_on:
                  error: true
                  output:
                    http_client:
                      url: http://dashboard.local/readings
                      verb: POST
              - drop_on:
                  back_pressure: 30s
                  error_patterns: [ 'back pressure', 'HTTP 4[0-9]{2}' ]
                  output:
                    mqtt:
                      urls: [ tcp://localhost:1883 ]
                      topic: plant/readings
        """,
    )
    assert problems == []


def test_bad_fields_are_refused_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { count: 1, interval: "", mapping: "root = 1" }
        output:
          broker:
            outputs:
              - drop_on:
                  error_patterns: [ 'HTTP 5\\d\\d', '(a)\\1' ]
                  back_pressure: -5s
                  eror: true
                  output:
                    drop: {}
              - drop_on:
                  back_pressure: soon
                  output:
                    drop: {}
              - drop_on:
                  error: true
        """,
    )
    assert problems == [
        "s.yaml:7:43: field error_patterns.1: error parsing regexp: invalid escape sequence: "
        "`\\1` (backreferences are not supported: patterns are RE2, as in Go)",
        "s.yaml:8:26: field back_pressure: must not be negative",
        's.yaml:9:11: unknown field "eror" in output drop_on, did you mean "error"?',
        "s.yaml:13:26: field back_pressure: invalid duration 'soon': expected a number with a "
        "unit such as 500ms, 1s, 1m30s",
        's.yaml:16:9: output drop_on: missing required field "output"',
    ]


def test_error_patterns_with_error_true_is_refused_at_the_component(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { count: 1, interval: "", mapping: "root = 1" }
        output:
          drop_on:
            error: true
            error_patterns: [ timeout ]
            output:
              drop: {}
        """,
    )
    assert problems == [
        "s.yaml:4:3: output 'drop_on' (output): error_patterns has no effect with "
        "`error: true`: drop either on every error or on the matching ones",
    ]


def test_spec_examples_lint(tmp_path: Path) -> None:
    load_builtins()
    spec = registry.get("output", "drop_on")
    assert spec is not None and spec.examples
    for i, example in enumerate(spec.examples):
        stream = {
            "input": {"generate": {"count": 1, "interval": "", "mapping": "root = 1"}},
            "output": yaml.safe_load(example),
        }
        path = tmp_path / f"example-{i}.yaml"
        path.write_text(yaml.safe_dump(stream))
        assert lint_paths([str(path)]) == []
