"""The snapshot: every row the tables hold as of one binlog position.

The rows are read in one consistent-snapshot transaction that starts at that position
(`ServerSession.start_snapshot`), so each change after it arrives from the binlog and none
before it. Each table is read with one query whose rows are fetched
`snapshot_max_batch_size` at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from streamforge.inputs.mysql_cdc.changes import Change
from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.server import ServerSession, quote_ident
from streamforge.inputs.mysql_cdc.values import TableSchema

__all__ = ["SnapshotReader"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")


class SnapshotReader:
    """Reads the tables in a consistent snapshot and hands their rows on as `read` changes."""

    def __init__(
        self,
        connect: Callable[[], Any],
        database: str,
        schemas: dict[str, TableSchema],
        *,
        batch_size: int,
        emit: Callable[[list[Change]], None],
        stop: threading.Event,
    ) -> None:
        self.connect = connect
        self.database = database
        self.schemas = schemas
        self.batch_size = batch_size
        self.emit = emit
        self.stop = stop

    def run(self, started: Callable[[BinlogPosition], None]) -> bool:
        """Take the snapshot (`started` hears its position first); False when stopped first."""
        conn = self.connect()
        lock_conn = None
        try:
            session = ServerSession(conn)
            if not session.is_mariadb():
                lock_conn = self.connect()
            position = session.start_snapshot(lock_conn, self.database, list(self.schemas))
            if lock_conn is not None:
                lock_conn.close()
                lock_conn = None
            started(position)
            for schema in self.schemas.values():
                if self.stop.is_set():
                    return False
                self._read_table(conn, schema)
            session.rows("COMMIT")
            return not self.stop.is_set()
        finally:
            for c in (lock_conn, conn):
                if c is not None:
                    try:
                        c.close()
                    except Exception:
                        log.debug("closing a snapshot connection failed", exc_info=True)

    def _read_table(self, conn: Any, schema: TableSchema) -> None:
        from streamforge.plugin.optional import require

        cursors = require("pymysql.cursors", "mysql_cdc", "mysql_cdc input")
        table = f"{quote_ident(self.database)}.{quote_ident(schema.name)}"
        meta = {"table": schema.name, "operation": "read"}
        read = 0
        cur = conn.cursor(cursors.SSCursor)
        cur.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        while True:
            if self.stop.is_set():
                return  # the connection is closed unread: no need to drain the result
            rows = cur.fetchmany(self.batch_size)
            if not rows:
                break
            self.emit([Change(schema.row_of(names, row), dict(meta)) for row in rows])
            read += len(rows)
        cur.close()
        log.debug("snapshot of %s: %d row(s)", table, read)
