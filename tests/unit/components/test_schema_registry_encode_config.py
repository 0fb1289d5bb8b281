"""`schema_registry_encode` configs at lint: Redpanda Connect's `schema_metadata`, `format`, `avro`
and `normalize` fields are accepted, and combinations that cannot work are errors at their
place in the file (nothing is asked of a registry)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems


def lint(tmp_path: Path, encode: str) -> list[str]:
    """What `streamforge lint` reports for a stream with this `schema_registry_encode` body."""
    body = textwrap.indent(textwrap.dedent(encode).strip(), " " * 8)
    text = (
        "input:\n  generate:\n    count: 1\n    mapping: root = {}\n"
        "pipeline:\n  processors:\n    - schema_registry_encode:\n"
        f"{body}\noutput:\n  drop: {{}}\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    found = lint_paths([str(path)])
    if not found:
        found = build_problems(load_stream(path))
    return [str(p).replace(str(tmp_path) + "/", "") for p in found]


def test_connect_configs_with_schema_metadata_lint_clean(tmp_path: Path) -> None:
    assert (
        lint(
            tmp_path,
            """
        url: http://registry:8081
        subject: ${! @table }-value
        schema_metadata: schema
        format: avro
        normalize: false
        avro:
          raw_json: true
          record_name: Order
          namespace: com.example.cdc
        """,
        )
        == []
    )
    assert (
        lint(
            tmp_path,
            """
        url: http://registry:8081
        subject: orders-value
        schema_metadata: schema
        format: json_schema
        """,
        )
        == []
    )


def test_the_older_and_newer_raw_json_fields_each_lint_clean(tmp_path: Path) -> None:
    for raw in ("avro_raw_json: true", "avro:\n  raw_json: true"):
        assert lint(tmp_path, f"url: http://r:8081\nsubject: s\n{raw}") == [], raw


BAD = [
    (
        "avro_raw_json: true\navro:\n  raw_json: false",
        "avro_raw_json: true and avro.raw_json: false contradict; avro.raw_json is the newer",
    ),
    ("format: avro", "format: only applies with schema_metadata"),
    ("schema_metadata: schema", "format: required with schema_metadata: one of avro, json_schema"),
    (
        "schema_metadata: schema\nformat: json_schema\navro:\n  raw_json: true",
        "avro.raw_json: only applies with format: avro, not json_schema",
    ),
    (
        "schema_metadata: schema\nformat: json_schema\navro_raw_json: true",
        "avro_raw_json: only applies with format: avro, not json_schema",
    ),
    (
        "avro:\n  record_name: Order",
        "avro.record_name: only names a schema built from schema_metadata, which is not set",
    ),
    (
        "schema_metadata: schema\nformat: avro\navro:\n  record_name: 2nd-order",
        "avro.record_name: '2nd-order' is not an Avro name",
    ),
    (
        "schema_metadata: schema\nformat: avro\navro:\n  namespace: com..example",
        "avro.namespace: 'com..example' is not a dotted Avro namespace",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_combinations_that_cannot_work_are_errors_at_the_processor(
    tmp_path: Path, extra: str, message: str
) -> None:
    found = lint(tmp_path, f"url: http://registry:8081\nsubject: orders-value\n{extra}")
    assert len(found) == 1, found
    assert found[0].startswith("s.yaml:7:"), found
    assert message in found[0], found


def test_an_unknown_format_and_avro_field_are_errors_at_their_line(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        """
        url: http://registry:8081
        subject: orders-value
        schema_metadata: schema
        format: protobuf
        avro:
          rawjson: true
        """,
    )
    assert any(
        p.startswith("s.yaml:11:") and '"protobuf" is not one of avro, json_schema' in p
        for p in found
    ), found
    assert any(
        p.startswith("s.yaml:13:") and 'unknown field "rawjson"' in p and "raw_json" in p
        for p in found
    ), found
