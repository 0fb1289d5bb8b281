"""The input's thread: sets up the publication and slot, reads the snapshot, peeks at the
slot's changes and confirms the positions the output has written everything up to.

When the server goes away (or refuses something) the thread logs why, waits with backoff and
starts over; positions are confirmed only once written, so what was not written is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from streamforge.connectors.cdc.session import SessionWorker
from streamforge.inputs.postgres_cdc.changes import Change, ChangeAssembler
from streamforge.inputs.postgres_cdc.metrics import REPLICATION_LAG, SNAPSHOT_PROGRESS
from streamforge.inputs.postgres_cdc.pgoutput import format_lsn
from streamforge.inputs.postgres_cdc.server import ServerSession, SetupError, TableRef
from streamforge.inputs.postgres_cdc.settings import CdcSettings, ConnectParams
from streamforge.inputs.postgres_cdc.snapshot import SnapshotReader
from streamforge.inputs.postgres_cdc.tracker import AckTracker
from streamforge.inputs.postgres_cdc.values import TypeMap
from streamforge.plugin.connection import Backoff, Connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.optional import require

__all__ = ["CdcWorker"]

log = logging.getLogger("streamforge.inputs.postgres_cdc")

#: longest pause between peeks while the slot has nothing new
IDLE_MAX = 0.5
#: a quiet slot this far behind the WAL gets a heartbeat at once (peeks decode from there)
LAG_HEARTBEAT_BYTES = 1024 * 1024


class CdcWorker(SessionWorker[int]):
    """Runs the replication session on a thread of its own (see the module docs)."""

    def __init__(
        self,
        settings: CdcSettings,
        *,
        label: str,
        stream: str,
        tracker: AckTracker,
        put: Callable[[list[Change], int], None],
        connection: Connection,
        stopping: threading.Event,
    ) -> None:
        super().__init__(
            name=f"postgres_cdc {label}",
            thread_name=f"postgres-cdc-{label}",
            logger=log,
            tracker=tracker,
            put=put,
            connection=connection,
            stopping=stopping,
        )
        self.settings = settings
        self.label = label
        self.stream = stream
        self.params = ConnectParams(settings)
        self.types = TypeMap()
        self.assembler = ChangeAssembler(
            self.types,
            markers=settings.include_transaction_markers,
            unchanged_toast=settings.unchanged_toast_value,
        )
        #: the order of the last transaction handed to the stream (peeks skip up to it)
        self.after = 0
        #: the slot's confirmed position as far as this worker knows
        self.advanced = 0
        #: rows of the last peek that belonged to transactions emitted before
        self._skipped = 0
        self._heartbeats = True
        self._conn: Any = None
        self._lag = REPLICATION_LAG.labels(stream=stream, component=label)

    def join(self, timeout: float) -> None:
        super().join(timeout)
        self.params.close()

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        backoff = Backoff(initial=0.2, maximum=10.0)
        while not self.finish.is_set():
            try:
                self._session(backoff)
            except Exception as exc:  # noqa: BLE001 - reported, then started over
                self._failed(exc)
                self._close()
                if self.stopping.is_set() or not backoff.sleep(self.finish):
                    break
            else:
                break
        self._close()

    def _connect(self, *, replication: bool) -> Any:
        psycopg = require("psycopg", "postgres", "postgres_cdc input")
        kwargs = dict(self.params.kwargs)
        if replication:
            kwargs["replication"] = "database"
        return psycopg.connect(self.settings.dsn, autocommit=True, prepare_threshold=None, **kwargs)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("%s: closing the connection failed", self.name, exc_info=True)

    def _failed(self, exc: BaseException) -> None:
        """Log why the session ended (a reason repeated only every 20th time) and show the
        connection down."""
        psycopg = require("psycopg", "postgres", "postgres_cdc input")
        if isinstance(exc, SetupError):
            text = str(exc)
        else:
            text = describe_error(exc).strip().splitlines()[0] if str(exc).strip() else ""
        where = self.settings.display
        unreachable = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        if unreachable:
            reason = f"database {where} unreachable ({text or type(exc).__name__})"
        else:
            reason = f"{where}: {text or type(exc).__name__}"
        self._report(reason, unreachable=unreachable)

    def _session(self, backoff: Backoff) -> None:
        s = self.settings
        self._conn = self._connect(replication=True)
        session = ServerSession(self._conn, s.slot_name, s.publication)
        session.setup()
        session.check_server()
        tables = session.resolve_tables(s.schema, s.tables)
        done = session.ensure_publication(tables)
        if done != "kept":
            log.info("%s: publication %s %s for %s", self.name, s.publication, done,
                     ", ".join(map(str, tables)))  # fmt: skip
        state = session.slot_state()
        if state is not None:
            if state.plugin != "pgoutput":
                raise SetupError(
                    f"replication slot {s.slot_name} uses the {state.plugin!r} plugin, not pgoutput"
                )
            if state.active_pid is not None:
                raise SetupError(
                    f"replication slot {s.slot_name} is in use by server process {state.active_pid}"
                )
            self.advanced = max(self.advanced, state.confirmed_flush or 0)
        elif s.stream_snapshot:
            if not self._snapshot(session, tables):
                return
        else:
            point, _ = session.create_slot(s.slot_name, temporary=s.temporary_slot, export=False)
            self.advanced = point
            log.info("%s: replication slot %s created at %s", self.name, s.slot_name,
                     format_lsn(point))  # fmt: skip
        self._up(backoff)
        self._stream(session)

    # -- snapshot -------------------------------------------------------------------------------

    def _snapshot(self, session: ServerSession, tables: list[TableRef]) -> bool:
        """Create the slot and emit the tables' rows as of its first position; False when the
        input stopped first (the slot, temporary until then, is gone with the session)."""
        s = self.settings
        name = s.slot_name if s.temporary_slot else f"{s.slot_name}_snapshot"
        point, snapshot = session.create_slot(name, temporary=True, export=True)
        log.info("%s: snapshot of %s as of %s", self.name, ", ".join(map(str, tables)),
                 format_lsn(point))  # fmt: skip
        self.connection.up()
        reader = SnapshotReader(
            lambda: self._connect(replication=False),
            snapshot,
            tables,
            batch_size=s.snapshot_batch_size,
            parallel=s.max_parallel_snapshot_tables,
            types=self.types,
            emit=self._emit_waiting,
            stop=self.stopping,
            progress=self._progress,
        )
        if not reader.run():
            return False
        while self.tracker.in_flight():
            if self.stopping.is_set():
                return False
            self.tracker.wait(0.1)
        if not s.temporary_slot:
            session.copy_slot(name, s.slot_name)
            session.drop_slot(name)
        self.advanced = point
        log.info("%s: snapshot written; streaming changes from %s", self.name, format_lsn(point))
        return True

    def _progress(self, table: TableRef, share: float) -> None:
        SNAPSHOT_PROGRESS.labels(stream=self.stream, component=self.label, table=str(table)).set(
            share
        )

    def _emit_waiting(self, changes: list[Change]) -> None:
        """Hand rows on once fewer than `checkpoint_limit` wait for the output."""
        self._put_when_room(changes, self.settings.checkpoint_limit, 0.1, self.stopping.is_set)

    # -- streaming ------------------------------------------------------------------------------

    def _stream(self, session: ServerSession) -> None:
        s = self.settings
        skipped = 0
        idle = 0.01
        now = time.monotonic()
        next_lag = now
        next_beat = now + s.heartbeat_interval if s.heartbeat_interval > 0 else None
        while True:
            self._confirm(session)
            if self.stopping.is_set():
                if self.finish.wait(0.05):
                    self._confirm(session)
                    return
                continue
            now = time.monotonic()
            if now >= next_lag:
                next_lag = now + max(s.wal_monitor_interval, 0.1)
                self._measure_lag(session)
            if next_beat is not None and now >= next_beat:
                next_beat = now + s.heartbeat_interval
                self._heartbeat(session)
            room = s.checkpoint_limit - self.tracker.in_flight()
            if room <= 0:
                self.tracker.wait(0.05)
                continue
            limit = skipped + room
            rows = session.peek(limit)
            new = self._hand_on(session, rows)
            skipped = self._skipped
            if new or len(rows) >= limit:
                idle = 0.01
                continue
            if self.stopping.wait(idle):
                continue
            idle = min(idle * 2, IDLE_MAX)

    def _hand_on(self, session: ServerSession, rows: list[tuple[int, bytes]]) -> bool:
        """Emit the transactions of peeked rows not emitted yet; whether there were any."""
        messages = self.assembler.decode(rows)
        unknown = self.types.unknown(self.assembler.type_oids(messages))
        if unknown:
            for oid, kind, base in session.type_kinds(unknown):
                self.types.learn(oid, kind, base)
        result = self.assembler.assemble(messages, self.after)
        self._skipped = result.skipped_rows
        for table in result.truncated:
            log.warning("%s: %s was truncated; TRUNCATE is not emitted as messages",
                        self.name, table)  # fmt: skip
        changed = False
        for step in result.steps:
            if step.changes:
                self.put(step.changes, self.tracker.issue(len(step.changes)))
                changed = True
            self.tracker.note_position(step.position)
        self.after = result.after
        return changed

    def _confirm(self, session: ServerSession) -> None:
        """Move the slot to the furthest position written in full."""
        confirmed = self.tracker.confirmed()
        if confirmed is None or confirmed <= self.advanced:
            return
        psycopg = require("psycopg", "postgres", "postgres_cdc input")
        try:
            session.advance(confirmed)
        except psycopg.errors.InvalidParameterValue:
            log.debug("%s: the slot is already past %s", self.name, format_lsn(confirmed))
        self.advanced = confirmed

    def _measure_lag(self, session: ServerSession) -> None:
        lag = session.lag_bytes()
        if lag is None:
            return
        self._lag.set(lag)
        if lag > LAG_HEARTBEAT_BYTES and not self.tracker.in_flight():
            self._heartbeat(session)

    def _heartbeat(self, session: ServerSession) -> None:
        """Write a heartbeat; a server that refuses it (a privilege) is told once, then left
        alone. Losing the connection meanwhile is handled as anywhere else."""
        if not self._heartbeats:
            return
        psycopg = require("psycopg", "postgres", "postgres_cdc input")
        try:
            session.heartbeat()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            self._heartbeats = False
            log.warning(
                "%s: writing heartbeats failed (%s); a slot whose tables are quiet keeps the "
                "WAL since their last change",
                self.name,
                describe_error(exc).strip().splitlines()[0],
            )
