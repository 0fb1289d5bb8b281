"""The mysql_cdc input against a MariaDB of the test's own with the binlog on: the snapshot and
the changes after it arrive typed and with their metadata; the binlog position kept in a cache
lets a stream killed mid-flow start again without losing a row; a server killed (SIGKILL) and
started again mid-stream loses none; bad configs and missing tables are named plainly."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from peers.mariadb_binlog import PrivateMariaDB
from peers.stream_run import Run, out_lines, stream_config, wait_until, write

from streamforge.inputs.mysql_cdc.binlog import BinlogFollower
from streamforge.inputs.mysql_cdc.server import ServerSession
from streamforge.inputs.mysql_cdc.settings import connect_kwargs
from streamforge.inputs.mysql_cdc.values import Column, TableSchema

#: rows the writer threads insert, one transaction each
ROWS = 300


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateMariaDB]:
    db = PrivateMariaDB()
    try:
        yield db
    finally:
        db.close()


def _cdc_stream(
    path: Path, db: PrivateMariaDB, table: str, extra: str = "", cache: str = ""
) -> Path:
    """A stream of `table`'s changes into `path`.jsonl, a line per message: its operation,
    table, binlog position and row. The position is kept in a file cache beside the config."""
    out = path.with_suffix(".jsonl")
    cache = cache or f"file:\n              directory: {path.with_suffix('.positions')}"
    return stream_config(
        path,
        f"""
        input:
          mysql_cdc:
            dsn: {db.dsn}
            tables: [ {table} ]
            checkpoint_cache: positions
            {extra}
        cache_resources:
          - label: positions
            {cache}
        pipeline:
          processors:
            - mapping: |
                root.op = @operation
                root.table = @table
                root.pos = @binlog_position
                root.row = this
        """,
        out,
    )


def _lines(config: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out_lines(config.with_suffix(".jsonl"))]


def _ids(config: Path, op: str = "insert") -> list[int]:
    return [m["row"]["id"] for m in _lines(config) if m["op"] == op]


def _stored(config: Path) -> str:
    path = config.with_suffix(".positions") / "mysql_binlog_position"
    return path.read_text() if path.exists() else ""


PRESS = (
    "'press', 12.50, 1.1, 2.25, 4000000000, '2024-05-01 10:00:00.250', '2024-05-01 10:00:00', "
    """'2024-05-01', '12:34:56', '{"line": "L1", "kw": 7.5}', 'b', 'z,x', x'00ff', b'101', NULL"""
)
PRESS_ROW = {
    "name": "press", "rating": "12.50", "weight": 1.1, "total": 2.25, "big": 4000000000,
    "seen": "2024-05-01T10:00:00.25Z", "stamp": "2024-05-01T10:00:00Z",
    "day": "2024-05-01T00:00:00Z", "span": "12:34:56", "attrs": {"line": "L1", "kw": 7.5},
    "kind": "b", "tags": ["x", "z"], "raw": "AP8=", "flag": 5, "note": None,
}  # fmt: skip


def test_snapshot_then_changes_arrive_typed_with_their_metadata(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    server.sql(
        "CREATE TABLE plant.assets (id int PRIMARY KEY, name varchar(20) NOT NULL, "
        "rating decimal(6,2), weight float, total double, big bigint unsigned, "
        "seen datetime(3), stamp timestamp NULL, day date, span time, attrs json, "
        "kind enum('a','b'), tags set('x','y','z'), raw varbinary(8), flag bit(3), note text)",
        f"INSERT INTO plant.assets VALUES (1, {PRESS})",
        "INSERT INTO plant.assets (id, name, rating, attrs) VALUES (2, 'oven', -0.75, '[]')",
    )
    config = _cdc_stream(tmp_path / "round.yaml", server, "assets", "stream_snapshot: true")
    run = Run(config)
    try:
        wait_until(lambda: len(_lines(config)) >= 2, 20, "the snapshot rows")
        server.sql(
            f"INSERT INTO plant.assets VALUES (3, {PRESS})",
            "UPDATE plant.assets SET note = 'serviced', rating = 99.99 WHERE id = 2",
            "DELETE FROM plant.assets WHERE id = 1",
        )
        wait_until(lambda: len(_lines(config)) >= 5, 20, "the changes")
        wait_until(lambda: bool(_stored(config)), 10, "a stored position")
    finally:
        run.stop()
    lines = _lines(config)
    assert len(lines) == 5, run.logs()
    snapshot, changes = lines[:2], lines[2:]
    assert [m["op"] for m in snapshot] == ["read", "read"], run.logs()
    assert all(m["table"] == "assets" and m["pos"] is None for m in snapshot)
    by_id = {m["row"]["id"]: m["row"] for m in snapshot}
    assert by_id[1] == {"id": 1, **PRESS_ROW}
    assert by_id[2]["rating"] == "-0.75" and by_id[2]["attrs"] == []
    assert by_id[2]["seen"] is None and by_id[2]["tags"] is None

    assert [m["op"] for m in changes] == ["insert", "update", "delete"], changes
    insert, update, delete = changes
    assert all(m["table"] == "assets" and m["pos"].startswith("binlog.") for m in changes)
    # the binlog types every value as the snapshot did
    assert insert["row"] == {"id": 3, **PRESS_ROW}
    assert update["row"]["note"] == "serviced" and update["row"]["rating"] == "99.99"
    assert update["row"]["attrs"] == [] and update["row"]["name"] == "oven"
    assert delete["row"] == {"id": 1, **PRESS_ROW}
    positions = [m["pos"] for m in changes]
    assert positions == sorted(positions) and len(set(positions)) == 3
    # the stored checkpoint is the position after the last written transaction
    assert _stored(config) >= positions[-1], (_stored(config), positions)


class Writer:
    """Inserts ids 1..ROWS into a table, one transaction each, through server restarts: an
    id counts as committed once its COMMIT returned (or it is found after a broken one)."""

    def __init__(self, db: PrivateMariaDB, table: str, pause: float = 0.005) -> None:
        self.db = db
        self.table = table
        self.pause = pause
        self.committed: list[int] = []
        self.failures = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = None
        next_id = 1
        while next_id <= ROWS:
            try:
                if conn is None:
                    conn = self.db.connect(connect_timeout=2)
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table} VALUES ({next_id}, 'x')")
            except pymysql.err.MySQLError:
                self.failures += 1
                conn = None
                time.sleep(0.1)
                if self._exists(next_id):  # it may have committed before the break
                    self.committed.append(next_id)
                    next_id += 1
                continue
            self.committed.append(next_id)
            next_id += 1
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def _exists(self, row_id: int) -> bool:
        try:
            return bool(self.db.sql(f"SELECT 1 FROM plant.{self.table} WHERE id = {row_id}"))
        except pymysql.err.MySQLError:
            return False

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the writer did not finish"


def test_rows_written_while_the_snapshot_is_taken_arrive_exactly_once(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    """The snapshot is the tables as of one binlog position: a row committed while the input
    starts is either a snapshot row or a change after it, never both or neither."""
    server.sql("CREATE TABLE plant.busy (id int PRIMARY KEY, note text)")
    writer = Writer(server, "busy", pause=0.01)
    wait_until(lambda: len(writer.committed) >= 20, 10, "rows before the stream starts")
    config = _cdc_stream(
        tmp_path / "busy.yaml", server, "busy",
        "stream_snapshot: true\n            snapshot_max_batch_size: 7",
    )  # fmt: skip
    run = Run(config)
    try:
        writer.join(30)
        wait_until(lambda: len(_lines(config)) >= ROWS, 30, "every row")
        time.sleep(0.3)
    finally:
        run.stop()
    lines = _lines(config)
    read = [m["row"]["id"] for m in lines if m["op"] == "read"]
    inserted = [m["row"]["id"] for m in lines if m["op"] == "insert"]
    assert read and inserted, run.logs()
    assert sorted(read + inserted) == list(range(1, ROWS + 1)), run.logs()
    assert max(read) < min(inserted)


def test_the_mysql_way_to_a_consistent_snapshot_locks_the_tables_for_its_start(
    server: PrivateMariaDB,
) -> None:
    """On MySQL, which does not report a snapshot's binlog position, the tables are locked
    while the snapshot starts and the position is read (run here against MariaDB, which
    takes the same statements): the snapshot holds exactly the rows before the position, and
    the binlog from there exactly the rows after it."""
    server.sql(
        "CREATE TABLE plant.locked (id int PRIMARY KEY)",
        "INSERT INTO plant.locked VALUES (1), (2), (3)",
    )
    snap, lock = server.connect(), server.connect()
    session = ServerSession(snap)
    session.is_mariadb = lambda: False  # type: ignore[method-assign]
    try:
        position = session.start_snapshot(lock, "plant", ["locked"])
        server.sql("INSERT INTO plant.locked VALUES (4), (5)")  # the lock is gone by now
        assert [r[0] for r in session.rows("SELECT id FROM plant.locked ORDER BY id")] == [1, 2, 3]
    finally:
        snap.close()
        lock.close()
    schemas = {"locked": TableSchema("locked", [Column("id", "int", "int")])}
    follower = BinlogFollower(
        connect_kwargs(server.dsn), "plant", schemas, position, names_in_binlog=True
    )
    rows: list[int] = []
    try:
        deadline = time.monotonic() + 10
        for step in follower.steps():
            rows += [c.value["id"] for c in step.changes]
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
    finally:
        follower.close()
    assert rows == [4, 5]


def test_a_stream_killed_during_the_snapshot_stores_nothing_and_snapshots_again(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    """The snapshot's position is stored only once every snapshot row was written: killed
    before, the next start reads every row again."""
    values = ", ".join(f"({i}, 'x')" for i in range(1, 201))
    server.sql(
        "CREATE TABLE plant.stocked (id int PRIMARY KEY, note text)",
        f"INSERT INTO plant.stocked VALUES {values}",
    )
    config = _cdc_stream(
        tmp_path / "stocked.yaml", server, "stocked",
        "stream_snapshot: true\n            snapshot_max_batch_size: 10\n"
        "            checkpoint_limit: 20\n            batching: { count: 10 }",
    )  # fmt: skip
    config.write_text(config.read_text().replace(
        "\n  processors:\n", "\n  processors:\n    - sleep: { duration: 20ms }\n", 1
    ))  # fmt: skip
    run = Run(config)
    try:
        wait_until(lambda: len(_lines(config)) >= 50, 20, "the first snapshot rows")
    finally:
        run.proc.kill()
        run.stop()
    first = len(_lines(config))
    assert first < 200 and not _stored(config), run.logs()
    again = Run(config, log=tmp_path / "again.log")
    try:
        wait_until(lambda: len(_lines(config)) >= first + 200, 40, "the snapshot again")
        wait_until(lambda: bool(_stored(config)), 10, "the snapshot's position")
    finally:
        again.stop()
    second = _lines(config)[first:]
    assert sorted(m["row"]["id"] for m in second) == list(range(1, 201)), again.logs()
    assert {m["op"] for m in second} == {"read"}


def test_a_stream_killed_mid_flow_resumes_from_the_cache_and_loses_nothing(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    server.sql("CREATE TABLE plant.restarted (id int PRIMARY KEY, note text)")
    config = _cdc_stream(tmp_path / "restart.yaml", server, "restarted", "stream_snapshot: false")
    run = Run(config)
    try:
        run.wait_log("starting at the binlog's end", timeout=20)
        writer = Writer(server, "restarted")
        wait_until(lambda: len(_ids(config)) >= 60, 20, "the first rows")
        time.sleep(0.1)
    finally:
        run.proc.kill()  # no goodbye: what was written after the last stored position comes again
        run.stop()
    before = len(_ids(config))
    stored = _stored(config)
    assert stored, run.logs()
    again = Run(config, log=tmp_path / "again.log")
    try:
        writer.join(30)
        wait_until(lambda: set(_ids(config)) >= set(writer.committed), 30, "every row")
        time.sleep(0.3)
    finally:
        again.stop()
    assert f"resuming from binlog position {stored}" in again.logs(), again.logs()
    ids = _ids(config)
    assert set(ids) == set(range(1, ROWS + 1)), again.logs()
    duplicates = len(ids) - ROWS
    # at most what the first run wrote after its last stored position comes twice
    assert 0 <= duplicates < before, (duplicates, before)
    assert _stored(config) > stored
    print(f"\nkilled after {before} rows: {duplicates} row(s) twice")


def test_the_stream_survives_a_server_kill_and_loses_no_committed_row(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    server.sql("CREATE TABLE plant.crashed (id int PRIMARY KEY, note text)")
    cache_db = tmp_path / "positions.db"
    with sqlite3.connect(cache_db) as conn:
        conn.execute("CREATE TABLE positions (k TEXT PRIMARY KEY, v TEXT)")
    config = _cdc_stream(
        tmp_path / "crash.yaml", server, "crashed", "stream_snapshot: false",
        cache=(
            f"sql:\n              driver: sqlite\n              dsn: {cache_db}\n"
            "              table: positions\n              key_column: k\n"
            "              value_column: v"
        ),
    )  # fmt: skip
    run = Run(config)
    try:
        run.wait_log("starting at the binlog's end", timeout=20)
        writer = Writer(server, "crashed")
        wait_until(lambda: len(_ids(config)) >= 50, 20, "the first rows")
        server.kill()
        time.sleep(0.5)
        server.start()
        writer.join(40)
        wait_until(lambda: set(_ids(config)) >= set(writer.committed), 30, "every committed row")
        time.sleep(0.3)
        assert run.proc.poll() is None, run.logs()
    finally:
        run.stop()
    assert writer.failures > 0, "the server kill did not interrupt the writer"
    assert "unreachable" in run.logs(), run.logs()
    assert "Traceback" not in run.logs(), run.logs()
    ids = _ids(config)
    assert sorted(ids) == sorted(writer.committed) == list(range(1, ROWS + 1)), run.logs()
    with sqlite3.connect(cache_db) as conn:
        (stored,) = conn.execute("SELECT v FROM positions WHERE k = 'mysql_binlog_position'")
    assert stored[0].startswith("binlog.")


def test_without_full_row_metadata_columns_are_named_from_the_schema(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    """A binlog without column names (binlog_row_metadata = MINIMAL, MariaDB's default): the
    input warns and names the columns from information_schema."""
    server.sql("CREATE TABLE plant.minimal (id int PRIMARY KEY, name varchar(10), n decimal(5,1))")
    server.sql("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try:
        config = _cdc_stream(tmp_path / "min.yaml", server, "minimal", "stream_snapshot: false")
        run = Run(config)
        try:
            run.wait_log("starting at the binlog's end", timeout=20)
            server.sql("INSERT INTO plant.minimal VALUES (1, 'press', 2.5)")
            wait_until(lambda: len(_lines(config)) >= 1, 20, "the row")
        finally:
            run.stop()
    finally:
        server.sql("SET GLOBAL binlog_row_metadata = 'FULL'")
    assert [m["row"] for m in _lines(config)] == [{"id": 1, "name": "press", "n": "2.5"}]
    assert "binlog_row_metadata is not FULL" in run.logs(), run.logs()


def test_a_table_that_does_not_exist_is_named_and_the_stream_waits(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    config = _cdc_stream(tmp_path / "missing.yaml", server, "nowhere", "stream_snapshot: true")
    run = Run(config)
    try:
        run.wait_log("does not exist", timeout=20)
        time.sleep(0.3)
        assert run.proc.poll() is None, run.logs()
    finally:
        run.stop()
    logs = run.logs()
    assert (
        f"mysql_cdc input: mysql://root@127.0.0.1:{server.port}/plant: table 'nowhere' does "
        "not exist in database 'plant'"
    ) in logs, logs
    assert "Traceback" not in logs, logs


def test_lint_points_at_bad_fields_of_a_connect_shaped_config(tmp_path: Path) -> None:
    good = write(
        tmp_path / "good.yaml",
        """
        input:
          label: plant_cdc
          mysql_cdc:
            flavor: mariadb
            dsn: cdc:secret@tcp(db.plant.local:3306)/plant?parseTime=true
            tables: [ readings, alarms ]
            checkpoint_cache: positions
            checkpoint_key: plant_binlog
            snapshot_max_batch_size: 5000
            stream_snapshot: true
            auto_replay_nacks: true
            checkpoint_limit: 1024
            batching:
              count: 100
              period: 1s
        cache_resources:
          - label: positions
            file:
              directory: /tmp/positions
        output:
          drop: {}
        """,
    )
    bad = write(
        tmp_path / "bad.yaml",
        """
        input:
          mysql_cdc:
            dsn: cdc:secret@tcp(db.plant.local:3306)/
            tabels: [ readings ]
            checkpoint_cache: positons
            stream_snapshot: true
        cache_resources:
          - label: positions
            memory: {}
        output:
          drop: {}
        """,
    )
    lint = [sys.executable, "-m", "streamforge", "lint"]
    ok = subprocess.run([*lint, str(good)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    done = subprocess.run([*lint, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert f"{bad}:3:10: " in text and "names no database" in text, text
    assert f"{bad}:2:3: " in text and 'missing required field "tables"' in text, text
    assert f"{bad}:4:5: " in text and 'did you mean "tables"' in text, text
    assert f"{bad}:5:23: " in text and 'did you mean "positions"' in text, text
    assert "Traceback" not in text, text
