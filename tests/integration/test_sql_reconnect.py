"""The database server cuts the SQL output's connections (pg_terminate_backend in PostgreSQL,
KILL in MariaDB) again and again while a stream writes, or a private PostgreSQL stops and
starts again: the output reconnects, writes the batch again, and every generated row arrives
exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.sql import Db, PrivatePostgres, cut_mariadb, cut_postgres, database, private_postgres  # noqa: F401 - the fixture
from peers.stream_run import Run, stream_config, wait_until

COUNT = 400

CUTTERS: dict[str, Callable[[str], int]] = {"postgres": cut_postgres, "mysql": cut_mariadb}


def _insert_stream(
    path: Path, driver: str, dsn: str, table: str, batch: int, extra: str = ""
) -> Path:
    """A stream generating ids 1..COUNT into `table` with sql_insert, `batch` rows a batch."""
    return stream_config(
        path,
        f"""
        input:
          generate:
            count: {COUNT}
            interval: 5ms
            mapping: 'root = {{"id": counter()}}'
        output:
          sql_insert:
            driver: {driver}
            dsn: {dsn}
            table: {table}
            columns: [ id, asset ]
            args_mapping: root = [ this.id, "x" ]
            batching:
              count: {batch}
              period: 50ms
            {extra}
        """,
    )


def _assert_each_row_once(db: Db, table: str) -> None:
    """`table` holds the ids 1..COUNT, each once."""
    query = f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"
    assert db.rows(query) == [(COUNT, COUNT, 1, COUNT)]


@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_output_writes_everything_while_the_server_cuts_its_connections(
    driver: str, tmp_path: Path
) -> None:
    cut = CUTTERS[driver]
    with database(driver, tmp_path) as db:
        db.execute(db.table("cut"))
        config = _insert_stream(
            tmp_path / "stream.yaml", driver, db.dsn, "cut", 7, extra="conn_max_idle: 1"
        )
        run = Run(config)
        cuts = 0
        try:
            wait_until(lambda: db.rows("SELECT count(*) FROM cut")[0][0] > 20, 20, "first rows")
            stop = threading.Event()

            def keep_cutting() -> None:
                nonlocal cuts
                while not stop.is_set():
                    cuts += cut(db.name)
                    stop.wait(0.2)

            cutter = threading.Thread(target=keep_cutting)
            cutter.start()
            try:
                wait_until(lambda: run.proc.poll() is not None, 40, "the stream to end")
            finally:
                stop.set()
                cutter.join()
            assert run.proc.returncode == 0, run.logs()
        finally:
            run.stop()
        assert cuts >= 3, "the server cut too few connections for the test to mean much"
        assert "unreachable" in run.logs() and "trying again" in run.logs(), run.logs()
        _assert_each_row_once(db, "cut")


def test_output_waits_out_a_server_restart_and_loses_nothing(
    private_postgres: PrivatePostgres,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """A private PostgreSQL stops at once (as in a crash) mid-stream and comes back: the
    output waits, writes what was held, and every row is there exactly once."""
    db = private_postgres.db
    db.execute(db.table("restart"))
    config = _insert_stream(tmp_path / "stream.yaml", "postgres", db.dsn, "restart", 5)
    run = Run(config)
    try:
        wait_until(lambda: db.rows("SELECT count(*) FROM restart")[0][0] > 30, 20, "first rows")
        private_postgres.stop()
        time.sleep(2.0)
        assert run.proc.poll() is None, run.logs()
        private_postgres.start()
        wait_until(lambda: run.proc.poll() is not None, 40, "the stream to end")
        assert run.proc.returncode == 0, run.logs()
    finally:
        run.stop()
    assert "unreachable" in run.logs(), run.logs()
    _assert_each_row_once(db, "restart")
