"""The configurations Benthos documents for `json_schema`, `protobuf`, the `http` processor and
the `reject` output, in their shapes with values of our own, lint clean and run."""

from __future__ import annotations

import json
from pathlib import Path

from peers.http_echo import HttpEcho

from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams

PERSON_SCHEMA = {
    "$id": "https://example.com/machine-operator.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Operator",
    "type": "object",
    "properties": {
        "firstName": {"type": "string"},
        "lastName": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
    },
}

PERSON_PROTO = """syntax = "proto3";
package testing;

import "google/protobuf/timestamp.proto";

message Person {
  string first_name = 1;
  string last_name = 2;
  string full_name = 3;
  int32 age = 4;
  int32 id = 5; // a number of our own
  string email = 6;

  google.protobuf.Timestamp last_updated = 7;
}
"""


def lint_and_run(tmp_path: Path, text: str) -> None:
    load_builtins()
    config = tmp_path / "stream.yaml"
    config.write_text(text)
    stream = load_stream(config)
    assert build_problems(stream) == []
    assert run_streams([stream], RunOptions(workers=1, http=False, configure_logging=False)) == 0


def file_input(tmp_path: Path, text: str) -> str:
    """Write `text` to `in.jsonl` and return the `input:` section of a config that reads it."""
    data = tmp_path / "in.jsonl"
    data.write_text(text)
    return f"input:\n  file: {{ paths: [ {data} ] }}\n"


def test_json_schema_with_catch_that_logs_and_drops(tmp_path: Path) -> None:
    schema = tmp_path / "operator.json"
    schema.write_text(json.dumps(PERSON_SCHEMA))
    source = file_input(
        tmp_path,
        '{"firstName": "Grace", "lastName": "Hopper", "age": 85}\n'
        '{"firstName": "Nobody", "age": -3}\n'
        '{"firstName": 7}\n',
    )
    out = tmp_path / "out.jsonl"
    lint_and_run(
        tmp_path,
        f"""{source}pipeline:
  processors:
    - json_schema:
        schema_path: "file://{schema}"
    - catch:
        - log:
            level: ERROR
            message: "Schema validation failed due to: ${{!error()}}"
        - mapping: 'root = deleted()'
output:
  file: {{ path: {out}, codec: lines }}
""",
    )
    assert [json.loads(line)["firstName"] for line in out.read_text().splitlines()] == ["Grace"]


def test_protobuf_json_to_protobuf_and_back(tmp_path: Path) -> None:
    schema = tmp_path / "testing" / "schema"
    (schema / "testing").mkdir(parents=True)
    (schema / "testing" / "person.proto").write_text(PERSON_PROTO)
    source = file_input(
        tmp_path,
        '{"firstName": "caleb", "lastName": "quaye", "email": "caleb@example.com"}\n'
        '{"firstName": "ada", "age": 36, "lastUpdated": "2024-03-01T12:00:00Z"}\n',
    )
    out = tmp_path / "out.jsonl"

    def files_through(*operators: str, then: str = "") -> None:
        steps = "".join(
            f"    - protobuf:\n        operator: {op}\n        message: testing.Person\n"
            f"        import_paths: [ {schema} ]\n"
            for op in operators
        )
        lint_and_run(
            tmp_path,
            f"{source}pipeline:\n  processors:\n{steps}{then}"
            f"output:\n  file: {{ path: {out}, codec: lines }}\n",
        )

    files_through("from_json", then="    - mapping: 'root = content().length()'\n")
    sizes = [int(line) for line in out.read_text().splitlines()]
    assert sizes[0] == len(b"\n\x05caleb\x12\x05quaye2\x11caleb@example.com")
    out.unlink()
    files_through("from_json", "to_json")
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert back == [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()]


def test_http_processor_in_a_branch(tmp_path: Path, http_echo: HttpEcho) -> None:
    out = tmp_path / "out.jsonl"
    lint_and_run(
        tmp_path,
        f"""
input:
  generate:
    count: 2
    interval: ""
    mapping: 'root = {{"asset": "press-" + counter().string()}}'
pipeline:
  processors:
    - branch:
        request_map: 'root = this.asset'
        processors:
          - http:
              url: {http_echo.url("/upper")}
              verb: GET
              headers:
                Content-Type: application/json
        result_map: 'root.lookup.status = content().string()'
output:
  file: {{ path: {out}, codec: lines }}
""",
    )
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got == [
        {"asset": "press-1", "lookup": {"status": "PRESS-1"}},
        {"asset": "press-2", "lookup": {"status": "PRESS-2"}},
    ]


def test_reject_in_a_switch_for_failed_messages(tmp_path: Path) -> None:
    source = file_input(tmp_path, '{"v": 1}\nnot json\n{"v": 3}\n')
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    lint_and_run(
        tmp_path,
        f"""{source}pipeline:
  processors:
    - mapping: 'root.doubled = this.v * 2'
output:
  fallback:
    - switch:
        retry_until_success: false
        cases:
          - check: '!errored()'
            output:
              file: {{ path: {out}, codec: lines }}
          - output:
              reject: "processing failed due to: ${{! error() }}"
    - file: {{ path: {dead}, codec: lines }}
      processors:
        - mapping: 'root = {{"error": @fallback_error}}'
""",
    )
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"doubled": 2},
        {"doubled": 6},
    ]
    [failed] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert failed["error"].startswith("processing failed due to: ")
