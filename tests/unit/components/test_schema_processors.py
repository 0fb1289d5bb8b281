"""The `json_schema` and `protobuf` processors without a network: schemas and .proto files
written by the tests, compiled once, applied per message; bad configs at lint."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from component_helpers import build

from streamforge.config import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.message import Message

PERSON = """
syntax = "proto3";
package testing;

import "google/protobuf/timestamp.proto";
import "testing/kind.proto";

message Person {
  string first_name = 1;
  string last_name = 2;
  int32 age = 4;
  int64 id = 5;
  Kind kind = 6;
  google.protobuf.Timestamp last_updated = 7;
  repeated string tags = 8;
}
"""

KIND = """
syntax = "proto3";
package testing;

enum Kind {
  KIND_UNKNOWN = 0;
  OPERATOR = 1;
  ENGINEER = 2;
}
"""


@pytest.fixture
def protos(tmp_path: Path) -> Path:
    root = tmp_path / "schema"
    (root / "testing").mkdir(parents=True)
    (root / "testing" / "person.proto").write_text(PERSON)
    (root / "testing" / "kind.proto").write_text(KIND)
    return root


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return [f"{p.location}: {p.message}" for p in build_problems(load_stream(path))]


# -- json_schema ---------------------------------------------------------------------------------


def test_json_schema_flags_what_does_not_conform_with_its_path() -> None:
    schema = {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "integer"}, "tags": {"items": {"type": "string"}}},
    }
    proc = build("processor", "json_schema", {"schema": json.dumps(schema), "schema_path": ""})
    batch = [
        Message('{"id": 1, "tags": ["a"]}'),
        Message('{"tags": ["a", 2]}'),
        Message("not json"),
        Message('{"id": "x"}', error="earlier failure"),
    ]
    out = proc.process_batch(batch)
    assert out[0].error is None and out[0].payload == b'{"id": 1, "tags": ["a"]}'
    assert out[1].error is not None
    assert sorted(out[1].error.splitlines()) == [
        "(root) 'id' is a required property",
        "tags.1 2 is not of type 'string'",
    ]
    assert out[2].error is not None and "JSON" in out[2].error
    assert out[3].error == "earlier failure"  # skipped: not checked again


def test_json_schema_file_resolves_relative_refs_once(tmp_path: Path) -> None:
    (tmp_path / "defs.json").write_text(
        json.dumps({"definitions": {"celsius": {"type": "number", "minimum": -273.15}}})
    )
    schema = tmp_path / "reading.json"
    schema.write_text(
        json.dumps({"properties": {"value": {"$ref": "defs.json#/definitions/celsius"}}})
    )
    proc = build("processor", "json_schema", {"schema": "", "schema_path": f"file://{schema}"})
    (tmp_path / "defs.json").unlink()  # read once, when the processor was built
    first = proc.process_batch([Message('{"value": -300}')])
    again = proc.process_batch([Message('{"value": 20}'), Message('{"value": "hot"}')])
    assert first[0].error is not None and first[0].error.startswith("value -300 is less")
    assert again[0].error is None
    assert again[1].error == "value 'hot' is not of type 'number'"


def test_json_schema_missing_ref_file_is_a_config_error(tmp_path: Path) -> None:
    schema = tmp_path / "reading.json"
    schema.write_text(json.dumps({"properties": {"value": {"$ref": "gone.json#/x"}}}))
    with pytest.raises(ValueError, match="gone.json"):
        build("processor", "json_schema", {"schema": "", "schema_path": str(schema)})


def test_json_schema_follows_the_draft_it_names() -> None:
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5,
              "exclusiveMaximum": True}  # fmt: skip
    proc = build("processor", "json_schema", {"schema": json.dumps(draft4), "schema_path": ""})
    out = proc.process_batch([Message("5"), Message("4")])
    assert out[0].error is not None and out[1].error is None


def test_json_schema_bad_configs_are_lint_errors(tmp_path: Path) -> None:
    text = """
    input:
      stdin: {}
    pipeline:
      processors:
        - json_schema:
            schema_path: ./missing.json
        - json_schema:
            schema: '{"type": "objekt"}'
        - json_schema: {}
    output:
      drop: {}
    """
    found = lint(tmp_path, text)
    assert any(":5:" in p and "cannot read schema file" in p for p in found), found
    assert any(":7:" in p and "invalid JSON Schema" in p for p in found), found
    assert any(":9:" in p and "exactly one of schema or schema_path" in p for p in found), found


# -- protobuf ------------------------------------------------------------------------------------


def test_protobuf_round_trip_from_json_to_json(protos: Path) -> None:
    common = {"message": "testing.Person", "import_paths": [str(protos)]}
    to_pb = build("processor", "protobuf", {**common, "operator": "from_json"})
    to_js = build("processor", "protobuf", {**common, "operator": "to_json"})
    doc = {
        "firstName": "Ada",
        "age": 36,
        "id": "9007199254740993",
        "kind": "ENGINEER",
        "lastUpdated": "2024-05-01T10:00:00Z",
        "tags": ["a", "b"],
    }
    [encoded] = to_pb.process_batch([Message(json.dumps(doc))])
    assert encoded.error is None
    assert encoded.payload.startswith(b"\n\x03Ada")  # field 1, length 3: real protobuf
    [decoded] = to_js.process_batch([Message(encoded.payload)])
    assert decoded.error is None
    assert decoded.value == doc  # lastName (empty) left out, as ProtoJSON does


def test_protobuf_names_and_enums_as_asked(protos: Path) -> None:
    common = {"message": ".testing.Person", "import_paths": [str(protos)]}
    to_pb = build("processor", "protobuf", {**common, "operator": "from_json"})
    to_js = build(
        "processor",
        "protobuf",
        {**common, "operator": "to_json", "use_proto_names": True, "use_enum_numbers": True},
    )
    [encoded] = to_pb.process_batch([Message('{"first_name": "Ada", "kind": "OPERATOR"}')])
    [decoded] = to_js.process_batch([encoded])
    assert decoded.value == {"first_name": "Ada", "kind": 1}


def test_protobuf_flags_messages_it_cannot_convert(protos: Path) -> None:
    common = {"message": "testing.Person", "import_paths": [str(protos)]}
    strict = build("processor", "protobuf", {**common, "operator": "from_json"})
    lenient = build(
        "processor", "protobuf", {**common, "operator": "from_json", "discard_unknown": True}
    )
    reader = build("processor", "protobuf", {**common, "operator": "to_json"})
    unknown = '{"firstName": "Ada", "shoeSize": 38}'
    [bad] = strict.process_batch([Message(unknown)])
    assert bad.error is not None and "shoeSize" in bad.error
    assert bad.payload == unknown.encode()  # content kept
    [good] = lenient.process_batch([Message(unknown)])
    assert good.error is None and good.payload == b"\n\x03Ada"
    [notjson] = strict.process_batch([Message("{")])
    assert notjson.error is not None and "JSON" in notjson.error
    [corrupt] = reader.process_batch([Message(b"\xff\xff\xff")])
    assert corrupt.error is not None and "testing.Person" in corrupt.error


def test_protobuf_bad_configs_are_lint_errors(tmp_path: Path, protos: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.proto").write_text('syntax = "proto3";\nmessage X { strin name = 1; }\n')
    text = f"""
    input:
      stdin: {{}}
    pipeline:
      processors:
        - protobuf:
            operator: to_json
            message: testing.Nobody
            import_paths: [ {protos} ]
        - protobuf:
            operator: from_json
            message: X
            import_paths: [ {broken} ]
    output:
      drop: {{}}
    """
    found = lint(tmp_path, text)
    assert any(":5:" in p and "'testing.Nobody' not found" in p and "testing.Person" in p
               for p in found), found  # fmt: skip
    assert any(":9:" in p and "do not compile" in p and "bad.proto" in p for p in found), found


def test_protobuf_unknown_operator_is_a_lint_error(tmp_path: Path, protos: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "input:\n  stdin: {}\npipeline:\n  processors:\n    - protobuf:\n"
        f"        operator: to_jsn\n        message: testing.Person\n"
        f"        import_paths: [ {protos} ]\noutput:\n  drop: {{}}\n"
    )
    with pytest.raises(Exception, match=r"s\.yaml:6:\d+:.*to_jsn"):
        load_stream(path)
