"""SQL components against the machine's PostgreSQL and MariaDB and a SQLite file.

For each database, one `streamforge run` writes four streams at once (generate -> sql_insert
output with batching; the sql_insert, sql_raw and sql_select processors per message; refused
rows routed by catch and switch; upserts through a suffix and the sql_raw output), then a
second run reads the tables back with the sql_select and sql_raw inputs. The tests check
what each stream left behind.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from peers.sql import Db, database
from peers.stream_run import out_lines, run_to_end, write

UPSERT = {
    "postgres": "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
    "sqlite": "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
    "mysql": "ON DUPLICATE KEY UPDATE value = VALUES(value)",
}


@dataclass
class Ran:
    db: Db
    folder: Path
    write_run: subprocess.CompletedProcess[str]
    read_run: subprocess.CompletedProcess[str]

    def lines(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in out_lines(self.folder / name)]


def _writers(db: Db, folder: Path) -> list[Path]:
    p1, p2, p3 = db.placeholder(1), db.placeholder(2), db.placeholder(3)
    return [
        write(
            folder / "readings.yaml",
            f"""
            http: {{enabled: false}}
            input:
              generate:
                count: 57
                interval: ""
                mapping: |
                  let n = counter()
                  root = {{"id": $n, "asset": "press-" + ($n % 3).string(), "value": $n * 0.5}}
                  meta asset_note = "from 'generate' 100%"
            output:
              sql_insert:
                driver: {db.driver}
                dsn: {db.dsn}
                table: readings
                columns: [ id, asset, value, note ]
                args_mapping: root = [ this.id, this.asset, this.value, @asset_note ]
                batching:
                  count: 20
                  period: 200ms
            """,
        ),
        write(
            folder / "processors.yaml",
            f"""
            http: {{enabled: false}}
            input:
              generate:
                count: 6
                interval: ""
                mapping: 'root = {{"id": counter(), "asset": "oven-" + counter().string()}}'
            pipeline:
              processors:
                - sql_insert:
                    driver: {db.driver}
                    dsn: {db.dsn}
                    table: assets
                    columns: [ id, asset, value ]
                    args_mapping: root = [ this.id, this.asset, this.id * 10 ]
                - mutation: meta id = this.id
                - sql_raw:
                    driver: {db.driver}
                    dsn: {db.dsn}
                    query: UPDATE assets SET note = {p1} WHERE id = {p2}
                    args_mapping: root = [ "seen", this.id ]
                    exec_only: true
                - sql_select:
                    driver: {db.driver}
                    dsn: {db.dsn}
                    table: assets
                    columns: [ id, asset, value, note ]
                    where: id = ?
                    args_mapping: root = [ this.id ]
                - mapping: root = this.index(0)
                - sql_raw:
                    driver: {db.driver}
                    dsn: {db.dsn}
                    query: SELECT count(*) AS n FROM assets WHERE id <= {p1}
                    args_mapping: root = [ @id.number() ]
                - mapping: 'root = {{"id": @id.number(), "upto": this.index(0).n}}'
            output:
              file: {{path: {folder / "processors.jsonl"}}}
            """,
        ),
        write(
            folder / "refused.yaml",
            f"""
            http: {{enabled: false}}
            input:
              generate:
                count: 9
                interval: ""
                mapping: |
                  let n = counter()
                  root = {{"id": $n, "asset": if $n % 4 == 0 {{ null }} else {{ "a" }}}}
            pipeline:
              processors:
                - sql_insert:
                    driver: {db.driver}
                    dsn: {db.dsn}
                    table: checked
                    columns: [ id, asset ]
                    args_mapping: root = [ this.id, this.asset ]
                - catch:
                    - mapping: 'root = this.merge({{"why": error()}})'
            output:
              switch:
                cases:
                  - check: this.exists("why")
                    output: {{file: {{path: {folder / "flagged.jsonl"}}}}}
                  - output:
                      fallback:
                        - sql_insert:
                            driver: {db.driver}
                            dsn: {db.dsn}
                            table: checked
                            columns: [ id, asset ]
                            args_mapping: root = [ this.id + 100, this.asset ]
                        - file: {{path: {folder / "dead.jsonl"}}}
            """,
        ),
        write(
            folder / "upserts.yaml",
            f"""
            http: {{enabled: false}}
            input:
              generate:
                count: 30
                interval: ""
                batch_size: 5
                mapping: 'root = {{"n": counter(), "id": counter() % 5, "asset": "pump"}}'
            output:
              broker:
                pattern: fan_out
                outputs:
                  - sql_insert:
                      driver: {db.driver}
                      dsn: {db.dsn}
                      table: latest
                      columns: [ id, asset, value ]
                      args_mapping: root = [ this.id, this.asset, this.n ]
                      suffix: {UPSERT[db.driver]}
                  - sql_raw:
                      driver: {db.driver}
                      dsn: {db.dsn}
                      query: INSERT INTO audit (id, asset, value) VALUES ({p1}, {p2}, {p3})
                      args_mapping: root = [ this.n, this.asset, this.n ]
                      queries:
                        - query: UPDATE audit SET note = 'ok' WHERE id = {p1}
                          args_mapping: root = [ this.n ]
            """,
        ),
    ]


def _readers(db: Db, folder: Path) -> list[Path]:
    return [
        write(
            folder / "select.yaml",
            f"""
            http: {{enabled: false}}
            input:
              sql_select:
                driver: {db.driver}
                dsn: {db.dsn}
                table: readings
                columns: [ id, asset, value ]
                where: id > ? AND asset = ?
                args_mapping: root = [ 40, "press-1" ]
                suffix: ORDER BY id
            output:
              file: {{path: {folder / "selected.jsonl"}}}
            """,
        ),
        write(
            folder / "raw.yaml",
            f"""
            http: {{enabled: false}}
            input:
              sql_raw:
                driver: {db.driver}
                dsn: {db.dsn}
                query: >-
                  SELECT asset, sum(value) AS total, count(*) AS n FROM readings
                  WHERE value > {db.placeholder(1)} GROUP BY asset ORDER BY asset
                args_mapping: root = [ 20 ]
            output:
              file: {{path: {folder / "totals.jsonl"}}}
            """,
        ),
    ]


@pytest.fixture(scope="module", params=["postgres", "mysql", "sqlite"])
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    folder = tmp_path_factory.mktemp(f"sql-{request.param}")
    with database(request.param, folder) as db:
        db.execute(*(db.table(t) for t in ("readings", "assets", "checked", "latest", "audit")))
        written = run_to_end(*_writers(db, folder))
        read = run_to_end(*_readers(db, folder))
        yield Ran(db, folder, written, read)


def test_the_streams_ran_to_their_end(ran: Ran) -> None:
    assert ran.write_run.returncode == 0, ran.write_run.stderr
    assert ran.read_run.returncode == 0, ran.read_run.stderr


def test_sql_insert_output_writes_every_batch(ran: Ran) -> None:
    assert ran.db.rows("SELECT count(*), sum(value) FROM readings") == [(57, 57 * 58 / 4)]
    assert ran.db.rows("SELECT note FROM readings WHERE id = 3") == [("from 'generate' 100%",)]


def test_sql_select_input_reads_the_rows_back(ran: Ran) -> None:
    rows = ran.lines("selected.jsonl")
    assert [r["id"] for r in rows] == [n for n in range(41, 58) if n % 3 == 1]
    assert rows[0] == {"id": 43, "asset": "press-1", "value": 21.5}


def test_sql_raw_input_reads_an_aggregate(ran: Ran) -> None:
    expected = []
    for asset in ("press-0", "press-1", "press-2"):
        values = [n * 0.5 for n in range(1, 58) if f"press-{n % 3}" == asset and n * 0.5 > 20]
        expected.append({"asset": asset, "total": sum(values), "n": len(values)})
    assert ran.lines("totals.jsonl") == expected


def test_processors_insert_update_and_select_per_message(ran: Ran) -> None:
    rows = ran.lines("processors.jsonl")
    assert sorted(r["id"] for r in rows) == [1, 2, 3, 4, 5, 6]
    assert all(r["upto"] == r["id"] for r in rows), rows
    assert ran.db.rows("SELECT id, asset, value, note FROM assets WHERE id = 4") == [
        (4, "oven-4", 40.0, "seen")
    ]


def test_a_refused_insert_flags_only_its_message(ran: Ran) -> None:
    flagged = ran.lines("flagged.jsonl")
    assert sorted(r["id"] for r in flagged) == [4, 8]
    assert all("null" in r["why"].lower() for r in flagged), flagged
    ids = [r[0] for r in ran.db.rows("SELECT id FROM checked ORDER BY id")]
    assert ids == [1, 2, 3, 5, 6, 7, 9, 101, 102, 103, 105, 106, 107, 109]
    assert ran.lines("dead.jsonl") == []


def test_suffix_upserts_and_sql_raw_output_runs_its_queries_in_one_transaction(ran: Ran) -> None:
    assert ran.db.rows("SELECT id, value FROM latest ORDER BY id") == [
        (0, 30.0), (1, 26.0), (2, 27.0), (3, 28.0), (4, 29.0)
    ]  # fmt: skip
    assert ran.db.rows("SELECT count(*), min(note), max(note) FROM audit") == [(30, "ok", "ok")]
