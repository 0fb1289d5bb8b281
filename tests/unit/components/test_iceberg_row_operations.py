"""The iceberg output's row operations without a server: lint of row_operation,
merge_strategy, identifier_fields, parquet and catalog fields at their place, and upserts and
deletes on a local SQLite catalog into a table another writer created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from component_helpers import lint_stream, validated_conf

from streamforge.message import Message
from streamforge.outputs.iceberg import IcebergWriter
from streamforge.plugin import load_builtins

load_builtins()


def _lint(tmp_path: Path, fields: str) -> list[str]:
    return lint_stream(
        tmp_path,
        f"""
        output:
          iceberg:
            catalog:
              url: sqlite:///{tmp_path}/catalog.db
              warehouse: {tmp_path}/warehouse
            namespace: plant
            table: assets
        {fields}
        """,
    )


@pytest.mark.parametrize(
    ("fields", "where", "needle"),
    [
        (
            "    row_operation: update",
            ":8:20:",
            "'update' is not one of insert, upsert, delete; did you mean 'upsert'?",
        ),
        ("    row_operation: delet", ":8:20:", "did you mean 'delete'?"),
        (
            "    merge_strategy: merge-on-read",
            ":8:21:",
            "merge-on-read is not supported: it needs equality-delete files",
        ),
        ("    merge_strategy: copy_on_write", ":8:21:", 'did you mean "copy-on-write"?'),
        (
            "    parquet:\n              string_encoding: delta_length_byte_array",
            ":9:24:",
            "delta_length_byte_array is not supported",
        ),
        ("    parquet:\n              compression: zip", ":9:20:", 'did you mean "gzip"?'),
        ("    case_sensitive_columns: no-thanks", ":8:29:", "expected bool"),
    ],
)
def test_bad_values_are_lint_errors_at_their_place(
    tmp_path: Path, fields: str, where: str, needle: str
) -> None:
    problems = _lint(tmp_path, fields)
    assert len(problems) == 1, problems
    assert where in problems[0] and needle in problems[0], problems


def test_an_upsert_without_identifier_fields_is_a_lint_error(tmp_path: Path) -> None:
    problems = _lint(tmp_path, "    row_operation: upsert")
    assert len(problems) == 1 and ":2:3:" in problems[0], problems
    assert "row_operation upsert needs identifier_fields" in problems[0]
    # interpolated, the operation is known per message only: it is checked then
    assert _lint(tmp_path, "    row_operation: ${! @op }") == []


def test_auth_and_headers_with_a_sql_catalog_are_lint_errors(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        f"""
        output:
          iceberg:
            catalog:
              url: sqlite:///{tmp_path}/catalog.db
              warehouse: {tmp_path}/warehouse
              auth:
                bearer: example-token
              headers:
                X-Site: hamburg
            namespace: plant
            table: assets
        """,
    )
    assert len(problems) == 1, problems
    assert "catalog.auth.bearer, catalog.headers: only a REST catalog" in problems[0]


def test_a_redpanda_shaped_cdc_config_lints_clean(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        input:
          generate:
            mapping: 'root = {"op": "u", "after": {"id": 1}}'
            count: 1
        pipeline:
          processors:
            - mapping: |
                meta op = match this.op {
                  "d" => "delete",
                  _ => "upsert",
                }
                root = this.after | this.before
        output:
          iceberg:
            catalog:
              url: http://localhost:8181/api/catalog
              warehouse: plant
              headers:
                X-Api-Key: example
            namespace: inventory
            table: customers
            row_operation: ${! metadata("op") }
            identifier_fields: [ id ]
            merge_strategy: copy-on-write
            case_sensitive_columns: false
            max_in_flight: 1
            parquet:
              string_encoding: plain
            storage:
              aws_s3:
                bucket: plant-lake
                region: eu-central-1
            batching:
              count: 5000
              period: 30s
        """,
    )
    assert problems == []


def _writer(tmp_path: Path, **conf: Any) -> IcebergWriter:
    base = {
        "catalog": {"url": f"sqlite:///{tmp_path}/c.db", "warehouse": str(tmp_path / "w")},
        "namespace": "plant",
        "table": "assets",
        "row_operation": "${! @op }",
    }
    return IcebergWriter(validated_conf("output", "iceberg", {**base, **conf}), connect=False)


def _msg(op: str, **row: Any) -> Message:
    return Message(json.dumps(row).encode(), {"op": op})


def test_upserts_and_deletes_on_a_table_without_identifier_columns(tmp_path: Path) -> None:
    import pyarrow as pa

    writer = _writer(tmp_path, identifier_fields=["line", "asset"])
    writer.catalog.create_namespace("plant")
    rows = [{"line": f"L{n % 3}", "asset": f"a{n}", "temp": float(n)} for n in range(3000)]
    made = writer.catalog.create_table("plant.assets", schema=pa.Table.from_pylist(rows).schema)
    made.append(pa.Table.from_pylist(rows))

    # 2000 keys in one batch: a filter of 2000 (line, asset) pairs, one commit
    batch = [_msg("upsert", line=f"L{n % 3}", asset=f"a{n}", temp=-1.0) for n in range(1000)]
    batch += [_msg("delete", line=f"L{n % 3}", asset=f"a{n}") for n in range(1000, 2000)]
    batch.append(_msg("delete", line="L9", asset="nowhere"))  # harmless
    assert writer.write_batch(batch) == []
    table = writer.catalog.load_table("plant.assets")
    got = {r["asset"]: r["temp"] for r in table.scan().to_arrow().to_pylist()}
    assert len(got) == 2000
    assert got["a0"] == got["a999"] == -1.0 and got["a2000"] == 2000.0
    assert "a1500" not in got
    assert table.schema().identifier_field_ids == []  # an existing table is left as it is
    assert len(table.metadata.metadata_log) == 2  # created, appended, this batch
    writer.close()


def test_identifier_fields_the_table_lacks_fail_only_the_keyed_messages(tmp_path: Path) -> None:
    writer = _writer(tmp_path, identifier_fields=["serial"])
    first = [_msg("insert", asset="press-01", temp=20.0)]
    # the table is created from rows without `serial`: it cannot have it as its identifier
    assert writer.write_batch(first) == first
    assert "identifier_fields: 'serial' is not a column" in (first[0].error or "")

    plain = _writer(tmp_path)  # no identifier fields: created from the same rows
    assert plain.write_batch([_msg("insert", asset="press-01", temp=20.0)]) == []
    batch = [_msg("insert", asset="oven-07", temp=180.0), _msg("delete", serial="x1")]
    assert writer.write_batch(batch) == [batch[1]]
    assert "'serial' is not a column of the table" in (batch[1].error or "")
    rows = writer.catalog.load_table("plant.assets").scan().to_arrow().to_pylist()
    assert sorted(r["asset"] for r in rows) == ["oven-07", "press-01"]
    writer.close()
    plain.close()
