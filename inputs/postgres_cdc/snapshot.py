"""The snapshot: every row the tables held when the replication slot was created.

The rows are read in the snapshot the slot exported, so they are exactly the database as of
the slot's first position: each change after it arrives from the slot, none before it. Tables
are read with a cursor, `snapshot_batch_size` rows at a time, on `max_parallel_snapshot_tables`
sessions of their own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from streamforge.inputs.postgres_cdc.changes import Change
from streamforge.inputs.postgres_cdc.server import ServerSession, TableRef
from streamforge.inputs.postgres_cdc.values import TypeMap

__all__ = ["SnapshotReader"]

log = logging.getLogger("streamforge.inputs.postgres_cdc")


class SnapshotReader:
    """Reads the tables in an exported snapshot and hands their rows on as `read` changes."""

    def __init__(
        self,
        connect: Callable[[], Any],
        snapshot: str,
        tables: list[TableRef],
        *,
        batch_size: int,
        parallel: int,
        types: TypeMap,
        emit: Callable[[list[Change]], None],
        stop: threading.Event,
        progress: Callable[[TableRef, float], None] | None = None,
    ) -> None:
        self.connect = connect
        self.snapshot = snapshot
        self.tables = tables
        self.batch_size = batch_size
        self.parallel = max(1, min(parallel, len(tables)))
        self.types = types
        self.emit = emit
        self.stop = stop
        self.progress = progress
        self._failure: BaseException | None = None

    def run(self) -> bool:
        """Read every table; False when stopped first. Raises what a session failed with."""
        todo: queue.SimpleQueue[TableRef] = queue.SimpleQueue()
        for table in self.tables:
            todo.put(table)
        if self.parallel == 1:
            self._work(todo)
        else:
            workers = [
                threading.Thread(target=self._work, args=(todo,), name=f"pg-snapshot-{i}")
                for i in range(self.parallel)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        if self._failure is not None:
            raise self._failure
        return not self.stop.is_set()

    def _work(self, todo: queue.SimpleQueue[TableRef]) -> None:
        conn = None
        try:
            conn = self.connect()
            session = ServerSession(conn, "", "")
            session.setup()
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot}'")
            while not self.stop.is_set() and self._failure is None:
                try:
                    table = todo.get_nowait()
                except queue.Empty:
                    break
                self._read_table(conn, session, table)
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - handed to run()
            if self._failure is None:
                self._failure = exc
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    log.debug("closing a snapshot session failed", exc_info=True)

    def _read_table(self, conn: Any, session: ServerSession, table: TableRef) -> None:
        estimate = session.rows(f"SELECT reltuples FROM pg_class WHERE oid = {table.oid}")
        expected = max(float(estimate[0][0]) if estimate else 0.0, 1.0)
        cur = conn.cursor()
        cur.execute(f"DECLARE streamforge_snapshot NO SCROLL CURSOR FOR SELECT * FROM {table.sql}")
        read = 0
        try:
            while not self.stop.is_set():
                cur.execute(f"FETCH {int(self.batch_size)} FROM streamforge_snapshot")
                result = cur.pgresult
                n = result.ntuples if result is not None else 0
                if not n:
                    break
                self.emit(self._changes(session, result, table))
                read += n
                if self.progress is not None:
                    self.progress(table, min(read / expected, 0.99))
        finally:
            cur.execute("CLOSE streamforge_snapshot")
        if self.progress is not None and not self.stop.is_set():
            self.progress(table, 1.0)
        log.debug("snapshot of %s: %d row(s)", table, read)

    def _changes(self, session: ServerSession, result: Any, table: TableRef) -> list[Change]:
        types = self.types
        fields = range(result.nfields)
        names = [result.fname(i).decode() for i in fields]
        oids = [int(result.ftype(i)) for i in fields]
        unknown = types.unknown(oids)
        if unknown:
            for oid, kind, base in session.type_kinds(unknown):
                types.learn(oid, kind, base)
        changes = []
        meta = {"table": table.name, "operation": "read"}
        for row in range(result.ntuples):
            value: dict[str, Any] = {}
            for i in fields:
                raw = result.get_value(row, i)
                value[names[i]] = None if raw is None else types.value(oids[i], raw)
            changes.append(Change(value, dict(meta)))
        return changes
