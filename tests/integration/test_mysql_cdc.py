"""The mysql_cdc input against a MariaDB of the test's own with the binlog on: the snapshot and
the changes after it arrive typed and with their metadata; the binlog position kept in a cache
lets a stream killed mid-flow start again without losing a row; a server killed (SIGKILL) and
started again mid-stream loses none; bad configs and missing tables are named plainly."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from peers.cdc_checks import (
    ROWS,
    Writer,
    cdc_stream,
    inserted_ids,
    kill_during_snapshot,
    kill_while_writing,
    lint_good_and_bad,
    messages,
    resume_until_every_row,
    snapshot_again,
    snapshot_and_changes_once,
    survive_server_kill,
)
from peers.mariadb_binlog import PrivateMariaDB
from peers.stream_run import Run, wait_until, write

from streamforge.inputs.mysql_cdc.binlog import BinlogFollower
from streamforge.inputs.mysql_cdc.server import ServerSession
from streamforge.inputs.mysql_cdc.settings import connect_kwargs
from streamforge.inputs.mysql_cdc.values import Column, TableSchema

#: what the input logs when it starts without a snapshot
BINLOG_END = "starting at the binlog's end"


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateMariaDB]:
    db = PrivateMariaDB()
    try:
        yield db
    finally:
        db.close()


def _cdc_stream(
    path: Path, db: PrivateMariaDB, table: str, *, cache: str = "", sleep: str = "", **extra: str
) -> Path:
    """A stream of `table`'s changes into `path`.jsonl, a line per message: its operation,
    table, binlog position and row. The position is kept in a file cache beside the config
    unless `cache` (YAML, one line) says otherwise."""
    cache = cache or f"file: {{ directory: {path.with_suffix('.positions')} }}"
    return cdc_stream(
        path,
        "mysql_cdc",
        {"dsn": db.dsn, "tables": f"[ {table} ]", "checkpoint_cache": "positions", **extra},
        {"pos": "binlog_position"},
        resources=f"cache_resources:\n  - label: positions\n    {cache}",
        sleep=sleep,
    )


def _writer(db: PrivateMariaDB, table: str, pause: float = 0.005, rows: int = ROWS) -> Writer:
    """A `Writer` into plant.`table`."""
    return Writer(
        lambda: db.connect(connect_timeout=2), db.sql, pymysql.err.MySQLError, f"plant.{table}",
        pause, rows,
    )  # fmt: skip


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
    config = _cdc_stream(tmp_path / "round.yaml", server, "assets", stream_snapshot="true")
    run = Run(config)
    try:
        wait_until(lambda: len(messages(config)) >= 2, 20, "the snapshot rows")
        server.sql(
            f"INSERT INTO plant.assets VALUES (3, {PRESS})",
            "UPDATE plant.assets SET note = 'serviced', rating = 99.99 WHERE id = 2",
            "DELETE FROM plant.assets WHERE id = 1",
        )
        wait_until(lambda: len(messages(config)) >= 5, 20, "the changes")
        wait_until(lambda: bool(_stored(config)), 10, "a stored position")
    finally:
        run.stop()
    lines = messages(config)
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


def test_rows_written_while_the_snapshot_is_taken_arrive_exactly_once(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    """The snapshot is the tables as of one binlog position: a row committed while the input
    starts is either a snapshot row or a change after it, never both or neither."""
    server.sql("CREATE TABLE plant.busy (id int PRIMARY KEY, note text)")
    config = _cdc_stream(
        tmp_path / "busy.yaml", server, "busy", stream_snapshot="true", snapshot_max_batch_size="7"
    )
    snapshot_and_changes_once(config, lambda rows: _writer(server, "busy", 0.01, rows))


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
        tmp_path / "stocked.yaml", server, "stocked", sleep="20ms", stream_snapshot="true",
        snapshot_max_batch_size="10", checkpoint_limit="20", batching="{ count: 10 }",
    )  # fmt: skip
    run, first = kill_during_snapshot(config, 200)
    assert not _stored(config), run.logs()
    snapshot_again(config, tmp_path / "again.log", first, 200, lambda: bool(_stored(config)))


def test_a_stream_killed_mid_flow_resumes_from_the_cache_and_loses_nothing(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    server.sql("CREATE TABLE plant.restarted (id int PRIMARY KEY, note text)")
    config = _cdc_stream(tmp_path / "restart.yaml", server, "restarted", stream_snapshot="false")
    run, writer, before = kill_while_writing(
        config, BINLOG_END, lambda: _writer(server, "restarted"), lambda: time.sleep(0.1)
    )
    stored = _stored(config)
    assert stored, run.logs()
    again, duplicates = resume_until_every_row(config, writer, tmp_path / "again.log")
    assert f"resuming from binlog position {stored}" in again.logs(), again.logs()
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
        tmp_path / "crash.yaml", server, "crashed", stream_snapshot="false",
        cache=(
            f"sql: {{ driver: sqlite, dsn: {cache_db}, table: positions, key_column: k, "
            "value_column: v }"
        ),
    )  # fmt: skip
    run, writer = survive_server_kill(
        config, server, BINLOG_END, lambda: _writer(server, "crashed")
    )
    assert "Traceback" not in run.logs(), run.logs()
    ids = inserted_ids(config)
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
        config = _cdc_stream(tmp_path / "min.yaml", server, "minimal", stream_snapshot="false")
        run = Run(config)
        try:
            run.wait_log(BINLOG_END, timeout=20)
            server.sql("INSERT INTO plant.minimal VALUES (1, 'press', 2.5)")
            wait_until(lambda: len(messages(config)) >= 1, 20, "the row")
        finally:
            run.stop()
    finally:
        server.sql("SET GLOBAL binlog_row_metadata = 'FULL'")
    assert [m["row"] for m in messages(config)] == [{"id": 1, "name": "press", "n": "2.5"}]
    assert "binlog_row_metadata is not FULL" in run.logs(), run.logs()


def test_a_table_that_does_not_exist_is_named_and_the_stream_waits(
    server: PrivateMariaDB, tmp_path: Path
) -> None:
    config = _cdc_stream(tmp_path / "missing.yaml", server, "nowhere", stream_snapshot="true")
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
    text = lint_good_and_bad(good, bad)
    assert f"{bad}:3:10: " in text and "names no database" in text, text
    assert f"{bad}:2:3: " in text and 'missing required field "tables"' in text, text
    assert f"{bad}:4:5: " in text and 'did you mean "tables"' in text, text
    assert f"{bad}:5:23: " in text and 'did you mean "positions"' in text, text
    assert "Traceback" not in text, text
