"""The input's thread: checks the server and the tables, finds where to start (the checkpoint
cache, a snapshot, or the binlog's end), then follows the binlog and hands each committed
transaction on.

When the server goes away (or refuses something) the thread logs why, waits with backoff and
starts over from the last transaction it handed on; positions are stored only once written,
so a restarted stream reads again what was not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from streamforge.connectors.cdc.session import SessionWorker
from streamforge.inputs.mysql_cdc.binlog import BinlogFollower
from streamforge.inputs.mysql_cdc.changes import Change
from streamforge.inputs.mysql_cdc.checkpoints import Checkpoints
from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.server import ServerSession, SetupError
from streamforge.inputs.mysql_cdc.settings import CdcSettings
from streamforge.inputs.mysql_cdc.snapshot import SnapshotReader
from streamforge.inputs.mysql_cdc.tracker import AckTracker
from streamforge.inputs.mysql_cdc.values import TableSchema
from streamforge.plugin import CacheError
from streamforge.plugin.connection import Backoff, Connection
from streamforge.plugin.optional import require

__all__ = ["CdcWorker"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")

#: client errors that mean the server is out of reach (not that it refused something)
_UNREACHABLE = {2002, 2003, 2006, 2013, 2055}


class CdcWorker(SessionWorker[BinlogPosition]):
    """Runs the replication session on a thread of its own (see the module docs)."""

    def __init__(
        self,
        settings: CdcSettings,
        *,
        name: str,
        tracker: AckTracker,
        checkpoints: Checkpoints,
        put: Callable[[list[Change], int], None],
        connection: Connection,
        stopping: threading.Event,
    ) -> None:
        super().__init__(
            name=name,
            thread_name=name,
            logger=log,
            tracker=tracker,
            put=put,
            connection=connection,
            stopping=stopping,
        )
        self.settings = settings
        self.checkpoints = checkpoints
        #: the position after the last transaction handed on (None: not known yet)
        self.after: BinlogPosition | None = None
        self.schemas: dict[str, TableSchema] = {}

    def _done(self) -> bool:
        return self.finish.is_set() or self.stopping.is_set()

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        backoff = Backoff(initial=0.2, maximum=10.0)
        while not self._done():
            try:
                self._session(backoff)
            except Exception as exc:  # noqa: BLE001 - reported, then started over
                self._failed(exc)
                if not backoff.sleep(self.stopping):
                    break
            else:
                break

    def _connect(self) -> Any:
        pymysql = require("pymysql", "mysql_cdc", "mysql_cdc input")
        kwargs = dict(self.settings.connect)
        kwargs.setdefault("connect_timeout", 5)
        kwargs.setdefault("charset", "utf8mb4")
        return pymysql.connect(autocommit=True, **kwargs)

    def _failed(self, exc: BaseException) -> None:
        """Log why the session ended (a reason repeated only every 20th time) and show the
        connection down."""
        pymysql = require("pymysql", "mysql_cdc", "mysql_cdc input")
        where = self.settings.display
        unreachable = False
        if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) == 2:
            code, text = exc.args
            unreachable = isinstance(exc, pymysql.err.OperationalError) and code in _UNREACHABLE
            detail = f"{text} ({code})"
        elif isinstance(exc, (SetupError, CacheError, ValueError)):
            detail = str(exc)
        else:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        reason = f"database {where} unreachable ({detail})" if unreachable else f"{where}: {detail}"
        if not self._report(reason, unreachable=unreachable):
            return
        if not isinstance(exc, (SetupError, CacheError, ValueError, pymysql.err.MySQLError)):
            log.debug("%s: the session failed", self.name, exc_info=exc)

    def _session(self, backoff: Backoff) -> None:
        s = self.settings
        conn = self._connect()
        try:
            session = ServerSession(conn)
            names_in_binlog = session.check_binlog()
            session.resolve_tables(s.database, s.tables)
            self.schemas = session.schemas(s.database, s.tables)
            if self.after is None:
                stored = self.checkpoints.load()
                if stored is not None:
                    self.after = stored
                    log.info("%s: resuming from binlog position %s", self.name, stored)
                elif not s.stream_snapshot:
                    self.after = session.binlog_end()
                    self.tracker.note_position(self.after)
                    log.info("%s: starting at the binlog's end, %s", self.name, self.after)
        finally:
            conn.close()
        if not names_in_binlog:
            log.warning(
                "%s: the server's binlog_row_metadata is not FULL: column names are looked up "
                "in information_schema, and ENUM and SET values need FULL",
                self.name,
            )
        self._up(backoff)
        if self.after is None and not self._snapshot():
            return
        self._stream(names_in_binlog)

    # -- snapshot -------------------------------------------------------------------------------

    def _snapshot(self) -> bool:
        """Emit the tables' rows as of one binlog position; False when stopped first."""
        s = self.settings
        started: list[BinlogPosition] = []

        def begun(position: BinlogPosition) -> None:
            started.append(position)
            log.info("%s: snapshot of %s as of binlog position %s", self.name,
                     ", ".join(s.tables), position)  # fmt: skip

        reader = SnapshotReader(
            self._connect,
            s.database,
            self.schemas,
            batch_size=s.snapshot_max_batch_size,
            emit=self._hand_on,
            stop=self.stopping,
        )
        if not reader.run(begun):
            return False
        self.after = started[0]
        self.tracker.note_position(self.after)
        log.info("%s: snapshot read; streaming changes from %s", self.name, self.after)
        return True

    # -- streaming ------------------------------------------------------------------------------

    def _hand_on(self, changes: list[Change]) -> None:
        """Give changes to the stream once fewer than `checkpoint_limit` wait for the output."""
        self._put_when_room(changes, self.settings.checkpoint_limit, 0.05, self._done)

    def _stream(self, names_in_binlog: bool) -> None:
        assert self.after is not None
        s = self.settings
        follower = BinlogFollower(
            s.connect, s.database, self.schemas, self.after, names_in_binlog=names_in_binlog
        )
        try:
            for step in follower.steps():
                if self._done():
                    return
                if step.position is None:
                    continue
                if step.schema_changed:
                    follower.schemas = self.schemas = self._reload_schemas()
                if step.changes:
                    self._hand_on(step.changes)
                self.tracker.note_position(step.position)
                self.after = step.position
        finally:
            follower.close()

    def _reload_schemas(self) -> dict[str, TableSchema]:
        conn = self._connect()
        try:
            return ServerSession(conn).schemas(self.settings.database, self.settings.tables)
        finally:
            conn.close()
