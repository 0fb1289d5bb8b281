"""The postgres_cdc input against a PostgreSQL of the test's own with wal_level = logical: the
snapshot and the changes after it arrive typed and with their metadata; a stream killed
mid-flow and started again, and a server killed (SIGKILL) and started again, lose no row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
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
from peers.sql import PrivatePostgres
from peers.stream_run import Run, stream_config, wait_until, write


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres({"wal_level": "logical", "max_replication_slots": "10"})
    try:
        yield pg
    finally:
        pg.close()


def _url(pg: PrivatePostgres) -> str:
    return f"postgresql://postgres@127.0.0.1:{pg.port}/plant"


def _sql(pg: PrivatePostgres, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_url(pg), autocommit=True) as conn:
        rows: list[tuple[Any, ...]] = []
        for s in statements:
            cur = conn.execute(s)
            rows = list(cur.fetchall()) if cur.description is not None else []
        return rows


def _cdc_stream(
    path: Path, pg: PrivatePostgres, table: str, slot: str, *, sleep: str = "", **extra: str
) -> Path:
    """A stream of `table`'s changes into `path`.jsonl, a line per message: its operation,
    table, LSN, row and the row before."""
    return cdc_stream(
        path,
        "postgres_cdc",
        {"dsn": pg.db.dsn, "schema": "public", "tables": f"[ {table} ]", "slot_name": slot} | extra,
        {"lsn": "lsn", "before": "before"},
        sleep=sleep,
    )


def _writer(pg: PrivatePostgres, table: str, pause: float = 0.005, rows: int = ROWS) -> Writer:
    """A `Writer` into `table`."""
    return Writer(
        lambda: psycopg.connect(_url(pg), autocommit=True, connect_timeout=2),
        lambda statement: _sql(pg, statement),
        psycopg.Error,
        table,
        pause,
        rows,
    )


def test_snapshot_then_changes_arrive_typed_with_their_metadata(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    _sql(
        server,
        "CREATE TABLE assets (id integer PRIMARY KEY, name text NOT NULL, rating numeric(6,2), "
        "active boolean, seen timestamp, attrs jsonb, doc json, note text, counts integer[])",
        "INSERT INTO assets VALUES (1, 'press', 12.5, true, '2024-05-01 10:00:00.25', "
        """'{"line": "L1", "kw": 7.5}', '[1, "x"]', NULL, '{1,2,3}')""",
        "INSERT INTO assets VALUES (2, 'oven', -0.75, false, '2024-05-01 11:30:00', "
        "'[]', 'null', 'hot', '{}')",
    )
    config = _cdc_stream(
        tmp_path / "round.yaml",
        server,
        "assets",
        "round_trip",
        stream_snapshot="true",
        include_transaction_markers="true",
    )
    run = Run(config)
    try:
        wait_until(lambda: len(messages(config)) >= 2, 20, "the snapshot rows")
        _sql(
            server,
            "INSERT INTO assets (id, name, rating, active) VALUES (3, 'saw', 1, true)",
            "UPDATE assets SET note = 'serviced', rating = 99.99 WHERE id = 2",
            "DELETE FROM assets WHERE id = 1",
        )
        wait_until(lambda: len(messages(config)) >= 2 + 3 * 3, 20, "the changes")
    finally:
        run.stop()
    lines = messages(config)
    snapshot, changes = lines[:2], lines[2:]
    assert [m["op"] for m in snapshot] == ["read", "read"], run.logs()
    assert all(m["table"] == "assets" and m["lsn"] is None for m in snapshot)
    by_id = {m["row"]["id"]: m["row"] for m in snapshot}
    assert by_id[1] == {
        "id": 1,
        "name": "press",
        "rating": "12.50",
        "active": True,
        "seen": "2024-05-01T10:00:00.25Z",
        "attrs": {"line": "L1", "kw": 7.5},
        "doc": [1, "x"],
        "note": None,
        "counts": [1, 2, 3],
    }
    assert by_id[2]["rating"] == "-0.75" and by_id[2]["active"] is False
    assert by_id[2]["doc"] is None and by_id[2]["counts"] == []

    ops = [m["op"] for m in changes]
    assert ops == ["begin", "insert", "commit"] * 1 + ["begin", "update", "commit"] + [
        "begin",
        "delete",
        "commit",
    ], ops
    rows = [m for m in changes if m["op"] not in ("begin", "commit")]
    assert all(m["table"] == "assets" and "/" in m["lsn"] for m in rows)
    assert [m["row"] for m in changes if m["op"] in ("begin", "commit")] == [None] * 6
    insert, update, delete = rows
    assert insert["row"] == {
        "id": 3, "name": "saw", "rating": "1.00", "active": True, "seen": None, "attrs": None,
        "doc": None, "note": None, "counts": None,
    }  # fmt: skip
    assert update["row"]["note"] == "serviced" and update["row"]["rating"] == "99.99"
    assert update["row"]["seen"] == "2024-05-01T11:30:00Z"
    assert delete["row"]["id"] == 1 and delete["before"]["id"] == 1
    lsns = [int(m["lsn"].split("/")[1], 16) for m in rows]
    assert lsns == sorted(lsns)


def test_rows_written_while_the_snapshot_is_taken_arrive_exactly_once(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    """The snapshot is the database as of the slot's first position: a row committed while
    the input starts is either in the snapshot or a change after it, never both or neither."""
    _sql(server, "CREATE TABLE busy (id integer PRIMARY KEY, note text)")
    config = _cdc_stream(tmp_path / "busy.yaml", server, "busy", "busy", stream_snapshot="true")
    snapshot_and_changes_once(config, lambda rows: _writer(server, "busy", 0.01, rows))


def test_a_stream_killed_during_the_snapshot_leaves_no_slot_and_snapshots_again(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    """The slot becomes permanent only once every snapshot row was written: killed before,
    the stream leaves nothing behind and the next start reads every row again."""
    _sql(
        server,
        "CREATE TABLE stocked (id integer PRIMARY KEY, note text)",
        "INSERT INTO stocked SELECT g, 'x' FROM generate_series(1, 400) g",
    )
    config = _cdc_stream(
        tmp_path / "stocked.yaml", server, "stocked", "stocked", sleep="50ms",
        stream_snapshot="true", snapshot_batch_size="10", checkpoint_limit="20",
        batching="{ count: 10 }",
    )  # fmt: skip
    _, first = kill_during_snapshot(config, 400)
    slots = "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'stocked%'"
    wait_until(lambda: not _sql(server, slots), 10, "the temporary slot to go")
    snapshot_again(config, tmp_path / "again.log", first, 400, lambda: bool(_sql(server, slots)))
    assert [r[0] for r in _sql(server, slots)] == ["stocked"]


def _confirmed(pg: PrivatePostgres, slot: str) -> int:
    rows = _sql(
        pg, f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot}'"
    )
    high, low = rows[0][0].split("/")
    return (int(high, 16) << 32) | int(low, 16)


def test_a_stream_killed_mid_flow_resumes_from_the_slot_and_loses_nothing(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    _sql(server, "CREATE TABLE restarted (id integer PRIMARY KEY, note text)")
    config = _cdc_stream(tmp_path / "restart.yaml", server, "restarted", "restarted")
    _, writer, before = kill_while_writing(
        config,
        "replication slot restarted created",
        lambda: _writer(server, "restarted"),
        lambda: wait_until(lambda: _confirmed(server, "restarted") > 0, 10, "a confirmed position"),
    )
    confirmed = _confirmed(server, "restarted")
    _, duplicates = resume_until_every_row(config, writer, tmp_path / "again.log")
    # the second run started from the confirmed position: at most what the first run had
    # written after its last confirmation comes twice
    assert duplicates < before, (duplicates, before)
    assert _confirmed(server, "restarted") > confirmed


def test_the_stream_survives_a_server_kill_and_loses_no_committed_row(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    _sql(server, "CREATE TABLE crashed (id integer PRIMARY KEY, note text)")
    config = _cdc_stream(tmp_path / "crash.yaml", server, "crashed", "crashed")
    _, writer = survive_server_kill(
        config, server, "replication slot crashed created", lambda: _writer(server, "crashed")
    )
    assert set(inserted_ids(config)) == set(writer.committed) == set(range(1, ROWS + 1))


def test_a_server_without_logical_decoding_is_named_and_the_stream_waits(
    postgres_url: str, tmp_path: Path
) -> None:
    """The machine's PostgreSQL runs with wal_level = replica: the input says so and keeps
    trying (the setting takes a server restart), without ending the stream."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE readings (id integer PRIMARY KEY)")
    config = stream_config(
        tmp_path / "replica.yaml",
        f"""
        input:
          postgres_cdc:
            dsn: {postgres_url}?sslmode=disable
            schema: public
            tables: [ readings ]
            slot_name: never_created
        output:
          drop: {{}}
        """,
    )
    run = Run(config)
    try:
        run.wait_log("wal_level = logical", timeout=20)
        time.sleep(0.5)
        assert run.proc.poll() is None, run.logs()
    finally:
        run.stop()
    assert "postgres_cdc input: postgres://postgres@127.0.0.1:5432/" in run.logs()
    assert "the server's wal_level is 'replica'" in run.logs()


def test_lint_points_at_bad_fields_of_a_connect_shaped_config(tmp_path: Path) -> None:
    good = write(
        tmp_path / "good.yaml",
        """
        input:
          label: plant_cdc
          postgres_cdc:
            dsn: postgres://cdc:secret@db.plant.local:5432/plant?sslmode=disable
            include_transaction_markers: false
            stream_snapshot: true
            snapshot_batch_size: 10000
            schema: public
            tables: [ readings, '"AssetEvents"' ]
            checkpoint_limit: 1024
            temporary_slot: false
            slot_name: plant_cdc
            pg_standby_timeout: 10s
            pg_wal_monitor_interval: 3s
            max_parallel_snapshot_tables: 2
            auto_replay_nacks: true
            batching:
              count: 100
              period: 1s
        output:
          drop: {}
        """,
    )
    bad = write(
        tmp_path / "bad.yaml",
        """
        input:
          postgres_cdc:
            dsn: postgres://cdc:secret@db.plant.local:5432/plant
            schema: public
            tabels: [ readings ]
            slot_name: Plant-CDC
            pg_standby_timeout: soon
        output:
          drop: {}
        """,
    )
    text = lint_good_and_bad(good, bad)
    assert f"{bad}:5:5: " in text and "tabels" in text and "tables" in text, text
    assert f"{bad}:6:16: " in text and "not a replication slot name" in text, text
    assert f"{bad}:7:25: " in text, text
