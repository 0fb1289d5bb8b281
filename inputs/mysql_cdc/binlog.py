"""Following the binlog from a position with `pymysqlreplication` (the input connects as a
replica with a server id of its own) and turning its events into committed transactions.

A transaction's rows are held until its commit (an XID event, or `COMMIT` for tables without
transactions), then handed on with the position after the commit: a restart from that
position reads the next transaction whole. Statements outside transactions (DDL) count as
steps without rows; the server's heartbeats as empty steps, so a quiet binlog still lets the
caller look up.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from streamforge.inputs.mysql_cdc.changes import Change, is_rows_event, row_changes
from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.values import TableSchema
from streamforge.plugin.optional import require

__all__ = ["BinlogFollower", "Step"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")

#: seconds between the server's heartbeats on a quiet binlog (how soon a stop is seen)
HEARTBEAT = 1.0
#: a connection that hears nothing, not even heartbeats, for this long is given up
READ_TIMEOUT = 30


@dataclass
class Step:
    """A committed transaction's changes (or none) and the position after it; `position` is
    None for a heartbeat. `schema_changed` marks a statement on the database (DDL)."""

    changes: list[Change] = field(default_factory=list)
    position: BinlogPosition | None = None
    schema_changed: bool = False


class BinlogFollower:
    """Reads the binlog from `start`, keeping the rows of `schemas`' tables."""

    def __init__(
        self,
        connect: dict[str, Any],
        database: str,
        schemas: dict[str, TableSchema],
        start: BinlogPosition,
        *,
        names_in_binlog: bool,
    ) -> None:
        replication = require("pymysqlreplication", "mysql_cdc", "mysql_cdc input")
        rows = require("pymysqlreplication.row_event", "mysql_cdc", "mysql_cdc input")
        events = require("pymysqlreplication.event", "mysql_cdc", "mysql_cdc input")
        self.database = database
        self.schemas = schemas
        settings = {k: v for k, v in connect.items() if k != "database"}
        settings["read_timeout"] = READ_TIMEOUT
        settings.setdefault("connect_timeout", 5)
        self._xid = events.XidEvent
        self._query = events.QueryEvent
        self._heartbeat = events.HeartbeatLogEvent
        self._gtids = (events.GtidEvent, events.MariadbGtidEvent)
        # options of later 1.0 releases: quiet, and names from information_schema when the
        # binlog has none (earlier releases leave such columns unnamed)
        wanted = {"enable_logging": False, "use_column_name_cache": not names_in_binlog}
        accepted = inspect.signature(replication.BinLogStreamReader).parameters
        options = {k: v for k, v in wanted.items() if k in accepted}
        self.reader = replication.BinLogStreamReader(
            connection_settings=settings,
            server_id=random.randint(1 << 20, (1 << 31) - 1),
            log_file=start.file,
            log_pos=start.offset,
            resume_stream=True,
            blocking=True,
            only_schemas=[database],
            only_tables=list(schemas),
            only_events=[
                rows.WriteRowsEvent,
                rows.UpdateRowsEvent,
                rows.DeleteRowsEvent,
                events.XidEvent,
                events.QueryEvent,
                events.HeartbeatLogEvent,
                events.GtidEvent,
                events.MariadbGtidEvent,
            ],  # fmt: skip
            slave_heartbeat=HEARTBEAT,
            **options,
        )

    def steps(self) -> Iterator[Step]:
        """Committed transactions, statements and heartbeats, as the binlog has them."""
        pending: list[Change] | None = None
        reader = self.reader
        while True:
            event = reader.fetchone()
            if event is None:
                return
            if isinstance(event, self._heartbeat):
                yield Step()
                continue
            end = BinlogPosition(str(reader.log_file), int(event.packet.log_pos))
            if isinstance(event, self._gtids):
                pending = []
            elif is_rows_event(event):
                schema = self.schemas.get(event.table)
                if schema is None or event.schema != self.database:
                    continue
                if pending is None:
                    pending = []
                pending.extend(row_changes(event, schema, end))
            elif isinstance(event, self._xid):
                yield Step(pending or [], end)
                pending = None
            elif isinstance(event, self._query):
                query = _text(event.query).strip().upper()
                if query == "BEGIN":
                    pending = []
                elif query == "COMMIT":
                    yield Step(pending or [], end)
                    pending = None
                elif query.startswith(("XA ", "SAVEPOINT", "ROLLBACK")):
                    continue
                else:  # a statement of its own (DDL): it ends its group
                    yield Step([], end, schema_changed=_text(event.schema) == self.database)
                    pending = None

    def close(self) -> None:
        try:
            self.reader.close()
        except Exception:
            log.debug("closing the binlog connection failed", exc_info=True)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
