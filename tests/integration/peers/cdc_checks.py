"""What the tests of the CDC inputs (mysql_cdc, postgres_cdc) share: a stream of a table's
changes into a file, a writer inserting numbered rows through server restarts, the checks that
no committed row is lost (nor doubled by a snapshot) when a snapshot is taken while rows are
written, a stream is killed mid-snapshot or mid-flow, or the server is killed mid-stream, and
`streamforge lint` on a good and a bad config."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from peers.stream_run import Run, out_lines, stream_config, wait_until

__all__ = [
    "ROWS",
    "Writer",
    "cdc_stream",
    "inserted_ids",
    "kill_during_snapshot",
    "kill_while_writing",
    "lint_good_and_bad",
    "messages",
    "resume_until_every_row",
    "snapshot_again",
    "snapshot_and_changes_once",
    "survive_server_kill",
]

#: rows a `Writer` inserts, one transaction each
ROWS = 300


def cdc_stream(
    path: Path,
    component: str,
    fields: dict[str, str],
    metadata: dict[str, str],
    *,
    resources: str = "",
    sleep: str = "",
) -> Path:
    """A stream of input `component` (its `fields`, values as YAML) into `path`.jsonl, a line
    per message: its operation (`op`), `table`, each of `metadata` (line field: metadata key)
    and `row`; `resources` is YAML for the top level, `sleep` slows each batch."""
    lines = ["input:", f"  {component}:", *(f"    {k}: {v}" for k, v in fields.items())]
    lines += [resources.rstrip("\n")] if resources else []
    lines += ["pipeline:", "  processors:"]
    lines += [f"    - sleep: {{ duration: {sleep} }}"] if sleep else []
    lines += ["    - mapping: |", "        root.op = @operation", "        root.table = @table"]
    lines += [f"        root.{name} = @{key}" for name, key in metadata.items()]
    lines += ["        root.row = this"]
    return stream_config(path, "\n".join(lines) + "\n", path.with_suffix(".jsonl"))


def messages(config: Path) -> list[dict[str, Any]]:
    """The lines a `cdc_stream` wrote so far."""
    return [json.loads(line) for line in out_lines(config.with_suffix(".jsonl"))]


def inserted_ids(config: Path) -> list[int]:
    """The ids of the inserted rows a `cdc_stream` wrote so far, in their order."""
    return [m["row"]["id"] for m in messages(config) if m["op"] == "insert"]


#: the most rows a writer keeps adding while a stream starts its snapshot
BUSY_ROWS_AT_MOST = 20_000


class Writer:
    """Inserts ids 1..`rows` into `table` (named as both statements need it), one transaction
    each, through server restarts, until `stop()`: an id counts as committed once its COMMIT
    returned (or it is found after a broken one).

    `connect` opens a DB-API connection in autocommit that gives up within seconds, `sql` runs
    a statement on a connection of its own and returns its rows, and the driver raises
    `errors`."""

    def __init__(
        self,
        connect: Callable[[], Any],
        sql: Callable[[str], list[tuple[Any, ...]]],
        errors: type[Exception],
        table: str,
        pause: float = 0.005,
        rows: int = ROWS,
    ) -> None:
        self.connect = connect
        self.sql = sql
        self.errors = errors
        self.table = table
        self.pause = pause
        self.rows = rows
        self.committed: list[int] = []
        self._stop = threading.Event()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = None
        next_id = 1
        while next_id <= self.rows and not self._stop.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table} VALUES ({next_id}, 'x')")
            except self.errors:
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
            return bool(self.sql(f"SELECT 1 FROM {self.table} WHERE id = {row_id}"))
        except self.errors:
            return False

    def stop(self) -> None:
        """Write no further row (the one under way is finished)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the writer did not finish"


def snapshot_and_changes_once(config: Path, start_writer: Callable[[int], Writer]) -> None:
    """Start `config` (a snapshot, then the changes) once the writer committed 20 rows, and
    keep writing until the first change after the snapshot arrived: every row arrives once,
    those before the snapshot's position as snapshot rows, the rest as inserts after them."""
    writer = start_writer(BUSY_ROWS_AT_MOST)
    wait_until(lambda: len(writer.committed) >= 20, 10, "rows before the stream starts")
    run = Run(config)
    try:
        wait_until(lambda: any(m["op"] == "insert" for m in messages(config)), 60, "a change")
        writer.stop()
        writer.join(30)
        total = len(writer.committed)
        wait_until(lambda: len(messages(config)) >= total, 30, "every row")
        time.sleep(0.3)
    finally:
        writer.stop()
        run.stop()
    lines = messages(config)
    read = [m["row"]["id"] for m in lines if m["op"] == "read"]
    inserted = [m["row"]["id"] for m in lines if m["op"] == "insert"]
    assert read and inserted, run.logs()
    assert sorted(read + inserted) == list(range(1, total + 1)), run.logs()
    assert max(read) < min(inserted)


def kill_during_snapshot(config: Path, total: int) -> tuple[Run, int]:
    """Run `config` (a slowed snapshot of `total` rows) and SIGKILL it after 50 rows, before
    the snapshot is whole; the run and how many lines it wrote."""
    run = Run(config)
    try:
        wait_until(lambda: len(messages(config)) >= 50, 20, "the first snapshot rows")
    finally:
        run.proc.kill()
        run.stop()
    first = len(messages(config))
    assert first < total, run.logs()
    return run, first


def snapshot_again(
    config: Path, log: Path, first: int, total: int, kept: Callable[[], bool]
) -> Run:
    """Run `config` again after a `kill_during_snapshot` that wrote `first` lines: the
    snapshot's `total` rows (ids 1..total) all arrive again, as snapshot rows, and the
    snapshot's position is `kept` at last."""
    again = Run(config, log=log)
    try:
        wait_until(lambda: len(messages(config)) >= first + total, 40, "the snapshot again")
        wait_until(kept, 10, "the snapshot's position")
    finally:
        again.stop()
    second = messages(config)[first:]
    assert sorted(m["row"]["id"] for m in second) == list(range(1, total + 1)), again.logs()
    assert {m["op"] for m in second} == {"read"}
    return again


def _writing(
    run: Run, config: Path, started: str, start_writer: Callable[[], Writer], rows: int
) -> Writer:
    """Once `run` logs `started`, a writer going and its first `rows` inserts written."""
    run.wait_log(started, timeout=20)
    writer = start_writer()
    wait_until(lambda: len(inserted_ids(config)) >= rows, 20, "the first rows")
    return writer


def kill_while_writing(
    config: Path, started: str, start_writer: Callable[[], Writer], settle: Callable[[], None]
) -> tuple[Run, Writer, int]:
    """Run `config`, write rows once it logs `started` and SIGKILL it after 60 arrived and
    `settle` returned; the run, the writer (still going) and how many inserts were written."""
    run = Run(config)
    try:
        writer = _writing(run, config, started, start_writer, 60)
        settle()
    finally:
        run.proc.kill()  # no goodbye: what was written after the last kept position comes again
        run.stop()
    return run, writer, len(inserted_ids(config))


def resume_until_every_row(config: Path, writer: Writer, log: Path) -> tuple[Run, int]:
    """Run `config` again after `kill_while_writing` until the writer finished and every row
    it committed arrived: every id 1..ROWS is there; the run and how many came twice."""
    again = Run(config, log=log)
    try:
        writer.join(30)
        wait_until(lambda: set(inserted_ids(config)) >= set(writer.committed), 30, "every row")
        time.sleep(0.3)
    finally:
        again.stop()
    ids = inserted_ids(config)
    assert set(ids) == set(range(1, ROWS + 1)), again.logs()
    return again, len(ids) - ROWS


class Server(Protocol):
    """A database server a test can crash and start again."""

    def kill(self) -> None: ...

    def start(self) -> None: ...


def survive_server_kill(
    config: Path, server: Server, started: str, start_writer: Callable[[], Writer]
) -> tuple[Run, Writer]:
    """Run `config`, write rows once it logs `started`, SIGKILL `server` after 50 arrived and
    start it again: the stream keeps running and says the server was unreachable, the kill
    interrupted the writer, and every row it committed arrives; the stopped run and writer."""
    run = Run(config)
    try:
        writer = _writing(run, config, started, start_writer, 50)
        server.kill()
        time.sleep(0.5)
        server.start()
        writer.join(40)
        wait_until(
            lambda: set(inserted_ids(config)) >= set(writer.committed), 30, "every committed row"
        )
        time.sleep(0.3)
        assert run.proc.poll() is None, run.logs()
    finally:
        run.stop()
    assert writer.failures > 0, "the server kill did not interrupt the writer"
    assert "unreachable" in run.logs(), run.logs()
    return run, writer


def lint_good_and_bad(good: Path, bad: Path) -> str:
    """`streamforge lint` passes `good` and fails `bad`; what it said of `bad`."""
    lint = [sys.executable, "-m", "streamforge", "lint"]
    ok = subprocess.run([*lint, str(good)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    done = subprocess.run([*lint, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    return done.stdout + done.stderr
