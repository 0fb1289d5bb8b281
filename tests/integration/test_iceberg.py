"""The iceberg output with pyiceberg's SQL catalog in a SQLite file: `streamforge run` appends
batches to tables it creates, pyarrow reads back exactly the rows that went in, new fields
become columns with schema evolution, and without it such a batch fails to a fallback."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from peers.stream_run import out_lines, run_to_end, write


def _catalog(folder: Path) -> Any:
    from pyiceberg.catalog import load_catalog

    return load_catalog(
        "default",
        type="sql",
        uri=f"sqlite:///{folder / 'catalog.db'}",
        warehouse=f"file://{folder / 'warehouse'}",
    )


def _stream(folder: Path, *, evolve: bool, table: str) -> Path:
    return write(
        folder / f"{table}.yaml",
        f"""
        http: {{enabled: false}}
        input:
          generate:
            count: 120
            interval: ""
            batch_size: 10
            mapping: |
              let n = counter()
              root.seq = $n
              root.asset = ["press-01", "oven-07"].index($n % 2)
              root.value = $n * 0.25
              root.ok = $n % 3 != 0
              root.ctx = {{"line": "L" + ($n % 4).string()}}
              root.note = if $n > 100 {{ "late" }}
        output:
          fallback:
            - iceberg:
                catalog:
                  url: sqlite:///{folder / "catalog.db"}
                  warehouse: {folder / "warehouse"}
                namespace: plant
                table: {table}
                schema_evolution:
                  enabled: {str(evolve).lower()}
                batching:
                  count: 50
                  period: 1s
            - file: {{path: {folder / (table + "-dead.jsonl")}}}
        """,
    )


def test_batches_become_commits_that_pyarrow_reads_back(tmp_path: Path) -> None:
    done = run_to_end(_stream(tmp_path, evolve=True, table="readings"))
    assert done.returncode == 0, done.stderr
    assert out_lines(tmp_path / "readings-dead.jsonl") == []

    table = _catalog(tmp_path).load_table("plant.readings")
    assert len(table.snapshots()) == 3  # 50 + 50 + 20: one commit per batch
    assert "note" in table.schema().column_names  # added when it first appeared
    rows = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["seq"])
    assert [r["seq"] for r in rows] == list(range(1, 121))
    assert rows[6] == {
        "seq": 7, "asset": "oven-07", "value": 1.75, "ok": True, "ctx": {"line": "L3"},
        "note": None,
    }  # fmt: skip
    assert rows[110]["note"] == "late"

    files = [task.file.file_path for task in table.scan().plan_files()]
    assert len(files) == 3
    total = sum(pq.read_table(path.removeprefix("file://")).num_rows for path in files)
    assert total == 120


def test_unknown_fields_fail_without_schema_evolution(tmp_path: Path) -> None:
    done = run_to_end(_stream(tmp_path, evolve=False, table="strict"))
    assert done.returncode == 0, done.stderr
    table = _catalog(tmp_path).load_table("plant.strict")
    assert "note" not in table.schema().column_names
    written = {r["seq"] for r in table.scan().to_arrow().to_pylist()}
    dead = [json.loads(line) for line in out_lines(tmp_path / "strict-dead.jsonl")]
    # the last batch (101..120) carries `note`: it fails as a whole, the rest is written
    assert written == set(range(1, 101))
    assert sorted(d["seq"] for d in dead) == list(range(101, 121))


def _partitioned_stream(folder: Path, spec: str, table: str) -> Path:
    return write(
        folder / f"{table}.yaml",
        f"""
        http: {{enabled: false}}
        input:
          generate:
            count: 48
            interval: ""
            batch_size: 12
            mapping: |
              let n = counter()
              root.seq = $n
              let t = (1767225600 + ($n - 1) * 21600).ts_format("2006-01-02T15:04:05Z", "UTC")
              root.ts = $t.ts_parse("2006-01-02T15:04:05Z")
              root.asset = ["press-01", "oven-07", "mill-03"].index($n % 3)
              root.site = {{"line": "L" + ($n % 2).string()}}
              let by_day = "(day(ts), bucket(4, asset))"
              meta spec = if $n % 2 == 0 {{ "(site.line)" }} else {{ $by_day }}
        output:
          fallback:
            - iceberg:
                catalog:
                  url: sqlite:///{folder / "catalog.db"}
                  warehouse: {folder / "warehouse"}
                namespace: plant
                table: {table}
                schema_evolution:
                  enabled: true
                  partition_spec: '{spec}'
            - file: {{path: {folder / (table + "-dead.jsonl")}}}
              processors:
                - mapping: 'root = this.merge({{"why": @fallback_error}})'
        """,
    )


def test_a_partition_spec_partitions_the_tables_it_creates(tmp_path: Path) -> None:
    done = run_to_end(_partitioned_stream(tmp_path, "(day(ts), bucket(4, asset))", "by_day"))
    assert done.returncode == 0, done.stderr
    assert out_lines(tmp_path / "by_day-dead.jsonl") == []
    table = _catalog(tmp_path).load_table("plant.by_day")
    spec = [(f.name, str(f.transform)) for f in table.spec().fields]
    assert spec == [("ts_day", "day"), ("asset_bucket_4", "bucket[4]")]
    rows = table.scan().to_arrow().to_pylist()
    assert sorted(r["seq"] for r in rows) == list(range(1, 49))
    # 48 readings six hours apart: 12 days, each file holds one day and one bucket
    days = {p["partition"]["ts_day"] for p in table.inspect.partitions().to_pylist()}
    assert len(days) == 12
    for task in table.scan().plan_files():
        day = task.file.partition[0]
        in_file = pq.read_table(task.file.file_path.removeprefix("file://")).to_pylist()
        assert {(r["ts"].date() - date(1970, 1, 1)).days for r in in_file} == {day}


def test_an_interpolated_partition_spec_and_a_bad_column(tmp_path: Path) -> None:
    done = run_to_end(_partitioned_stream(tmp_path, "${! @spec }", "dynamic"))
    assert done.returncode == 0, done.stderr
    # the first message (seq 1, odd) created the table with its spec
    table = _catalog(tmp_path).load_table("plant.dynamic")
    assert [str(f.transform) for f in table.spec().fields] == ["day", "bucket[4]"]
    assert len(table.scan().to_arrow()) == 48

    done = run_to_end(_partitioned_stream(tmp_path, "(hour(missing_col))", "broken"))
    assert done.returncode == 0, done.stderr
    dead = out_lines(tmp_path / "broken-dead.jsonl")
    assert len(dead) == 48  # no table without its partitioning: every row to the fallback
    assert "missing_col" in json.loads(dead[0])["why"]


def _changes_stream(folder: Path, table: str, changes: list[dict[str, Any]], extra: str) -> Path:
    """A stream reading change records (`{"op": ..., "row": {...}}`, one a line) into an
    iceberg table, four messages a batch; failed messages go to `<table>-dead.jsonl`."""
    source = folder / f"{table}-changes.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in changes))
    return write(
        folder / f"{table}.yaml",
        f"""
        http: {{enabled: false}}
        input:
          file:
            paths: [{source}]
            codec: lines
        pipeline:
          processors:
            - mapping: |
                meta op = this.op
                root = this.row
        output:
          fallback:
            - iceberg:
                catalog:
                  url: sqlite:///{folder / "catalog.db"}
                  warehouse: {folder / "warehouse"}
                namespace: plant
                table: {table}
                row_operation: ${{! @op }}
                schema_evolution:
                  enabled: true
                {textwrap.indent(textwrap.dedent(extra).strip(), " " * 16).lstrip()}
                batching:
                  count: 4
            - file: {{path: {folder / (table + "-dead.jsonl")}}}
              processors:
                - mapping: 'root = this.merge({{"why": @fallback_error}})'
        """,
    )


def _rows(table: Any, key: str) -> list[dict[str, Any]]:
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r[key])


def test_inserts_upserts_and_deletes_by_identifier_fields(tmp_path: Path) -> None:
    def change(op: str, **row: Any) -> dict[str, Any]:
        return {"op": op, "row": row}

    changes = [
        # batch 1: the table is created with `id` as its identifier column
        change("insert", id=1, asset="press-01", temp=20.5),
        change("insert", id=2, asset="oven-07", temp=180.0),
        change("insert", id=3, asset="mill-03", temp=35.0),
        change("insert", id=4, asset="saw-02", temp=22.0),
        # batch 2: an update, a delete, an upsert of a new key, a delete of a missing key
        change("upsert", id=2, asset="oven-07", temp=185.5),
        change("delete", id=3),
        change("upsert", id=5, asset="lathe-09", temp=41.0, note="new"),
        change("delete", id=42),
        # batch 3: the last operation of a key wins; a bad operation and a row without its
        # identifier fail alone
        change("upsert", id=2, asset="oven-07", temp=190.0),
        change("update", id=4, asset="saw-02", temp=99.0),
        change("delete", id=1),
        change("upsert", id=1, asset="press-01", temp=21.0),
        # batch 4
        change("upsert", id=2, asset="oven-07", temp=191.5),
        change("upsert", asset="nameless", temp=1.0),
        change("insert", id=6, asset="drill-04", temp=30.0),
    ]
    stream = _changes_stream(tmp_path, "assets", changes, "identifier_fields: [id]")
    done = run_to_end(stream)
    assert done.returncode == 0, done.stderr

    dead = [json.loads(line) for line in out_lines(tmp_path / "assets-dead.jsonl")]
    assert [d.get("asset") for d in dead] == ["saw-02", "nameless"]
    assert "row_operation: 'update' is not one of insert, upsert, delete" in dead[0]["why"]
    assert "'upsert'" in dead[0]["why"]  # did you mean
    assert "column(s) id missing or null" in dead[1]["why"]

    table = _catalog(tmp_path).load_table("plant.assets")
    assert table.schema().identifier_field_names() == {"id"}
    assert table.schema().find_field("id").required
    assert _rows(table, "id") == [
        {"id": 1, "asset": "press-01", "temp": 21.0, "note": None},
        {"id": 2, "asset": "oven-07", "temp": 191.5, "note": None},
        {"id": 4, "asset": "saw-02", "temp": 22.0, "note": None},
        {"id": 5, "asset": "lathe-09", "temp": 41.0, "note": "new"},
        {"id": 6, "asset": "drill-04", "temp": 30.0, "note": None},
    ]
    # created, then one commit per batch (schema change, deletes and appends together)
    assert len(table.metadata.metadata_log) == 4
    # copy-on-write: only plain data files, which pyarrow reads back to the same rows
    tasks = list(table.scan().plan_files())
    assert all(not task.delete_files for task in tasks)
    assert len(table.inspect.delete_files()) == 0
    files = [pq.read_table(t.file.file_path.removeprefix("file://")) for t in tasks]
    assert sorted(r["id"] for f in files for r in f.to_pylist()) == [1, 2, 4, 5, 6]


def test_a_composite_key_matched_without_case(tmp_path: Path) -> None:
    def change(op: str, **row: Any) -> dict[str, Any]:
        return {"op": op, "row": row}

    changes = [
        change("upsert", Site="hamburg", Asset="press-01", Temp=20.0),
        change("upsert", Site="bremen", Asset="press-01", Temp=21.0),
        change("upsert", Site="hamburg", Asset="oven-07", Temp=180.0),
        change("upsert", Site="hamburg", Asset="press-01", Temp=25.0),  # replaces the first
        # the columns are site, asset, temp (first spelling): other spellings land in them
        change("upsert", SITE="bremen", asset="press-01", TEMP=22.5),
        change("", site="kiel", ASSET="mill-03", temp=30.0),  # empty: insert
        change("delete", site="hamburg", asset="oven-07"),
        change("upsert", site="kiel", Site="KIEL", asset="x", temp=0.0),  # ambiguous: fails
    ]
    extra = """
        identifier_fields: [SITE, asset]
        case_sensitive_columns: false
        parquet:
          compression: snappy
    """
    done = run_to_end(_changes_stream(tmp_path, "by_site", changes, extra))
    assert done.returncode == 0, done.stderr
    dead = [json.loads(line) for line in out_lines(tmp_path / "by_site-dead.jsonl")]
    assert len(dead) == 1 and "differ only in case" in dead[0]["why"]

    table = _catalog(tmp_path).load_table("plant.by_site")
    assert [f.name for f in table.schema().fields] == ["Site", "Asset", "Temp"]
    assert table.schema().identifier_field_names() == {"Site", "Asset"}
    assert _rows(table, "Site") == [
        {"Site": "bremen", "Asset": "press-01", "Temp": 22.5},
        {"Site": "hamburg", "Asset": "press-01", "Temp": 25.0},
        {"Site": "kiel", "Asset": "mill-03", "Temp": 30.0},
    ]
    for task in table.scan().plan_files():
        meta = pq.ParquetFile(task.file.file_path.removeprefix("file://")).metadata
        assert meta.row_group(0).column(0).compression == "SNAPPY"
