"""`sql_select` and `sql_raw` inputs: one query, one message per row, then the input ends.

Rows are fetched from a server-side cursor in chunks, so a large table is not held in memory.
While the database cannot be reached at the start the query is tried again with backoff.
With `auto_replay_nacks` (the default) rows whose batch the output failed to write are sent
again, and the input ends only once every row was written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.connectors.sql import (
    ArgsMapping,
    Database,
    Statement,
    affix_fields,
    args_mapping_field,
    connection_fields,
    is_disconnect,
    jsonable,
    select_text,
    statement,
    table_fields,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import Backoff
from streamforge.plugin.errors import describe_error
from streamforge.plugin.spec import offline_check

__all__ = ["SqlQueryInput", "SqlQueryReader"]

log = logging.getLogger("streamforge.inputs.sql")

#: rows fetched from the cursor per read
READ_BATCH = 500


def _replay_field() -> Field:
    return Field(
        "auto_replay_nacks",
        "bool",
        default=True,
        description="Send rows again whose write failed, until written (the input ends only "
        "then). With false they are dropped, with a warning.",
    )


class SqlQueryInput(Input):
    """Runs one query and emits a message per row."""

    one_message_per_batch = True

    def __init__(
        self,
        conf: dict[str, Any],
        ctx: BuildContext | None,
        text: str,
        *,
        generated: bool,
        connect: bool = True,
    ) -> None:
        self.conf = conf
        self.ctx = ctx
        self.label = getattr(ctx, "label", "") or "sql"
        self.stream = getattr(ctx, "stream", "") or "stream"
        probe = Database(conf, register=False)
        self.driver = probe.driver
        self.stmt: Statement = statement(text, self.driver, generated=generated)
        self.args = ArgsMapping(str(conf.get("args_mapping") or ""))
        self.replay = bool(conf.get("auto_replay_nacks", True))

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        db = Database(self.conf, stream=self.stream, label=self.label)
        return SqlQueryReader(self, db)


class SqlQueryReader(InputReader):
    """Fetches the rows of one query in chunks; replays failed batches."""

    def __init__(self, source: SqlQueryInput, db: Database) -> None:
        self.source = source
        self.db = db
        self._conn: Any = None
        self._result: Any = None
        self._columns: list[str] = []
        self._exhausted = False
        self._failed = False
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._awake: datetime | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, list[bytes]] = {}
        self._replays: deque[list[bytes]] = deque()

    def read(self) -> list[Message] | None:
        with self._lock:
            if self._replays:
                return self._emit_payloads(self._replays.popleft())
        if self._failed:
            return None
        if self._exhausted:
            with self._lock:
                waiting = bool(self._pending) and self.source.replay
            if waiting:
                self._awake = datetime.now(timezone.utc) + timedelta(milliseconds=20)
                return []
            return None
        if self._result is None and not self._start():
            return []
        try:
            rows = self._result.fetchmany(READ_BATCH)
        except Exception as exc:  # noqa: BLE001 - the query ends; what was read stays read
            log.error(
                "%s: reading the query's rows failed after some were emitted: %s",
                self.source.label,
                describe_error(exc),
            )
            self._finish()
            self._failed = True
            return None
        if len(rows) < READ_BATCH:
            self._finish()
        self._awake = None
        columns = self._columns
        values = [{c: jsonable(v) for c, v in zip(columns, row)} for row in rows]
        batch = [Message.from_value(v) for v in values]
        if batch and self.source.replay:
            with self._lock:
                self._pending[id(batch)] = [m.payload for m in batch]
        return batch

    def _emit_payloads(self, payloads: list[bytes]) -> list[Message]:
        batch = [Message(p) for p in payloads]
        self._pending[id(batch)] = payloads
        return batch

    def _start(self) -> bool:
        """Run the query; False (and a later wake-up) while the database is unreachable."""
        src = self.source
        try:
            params = src.stmt.bind(src.args.values(None))
        except Exception as exc:  # noqa: BLE001 - a bad args_mapping ends the input
            log.error("%s: args_mapping failed: %s", src.label, describe_error(exc))
            self._failed = True
            return False
        try:
            self.db.initialise()
            conn = self.db.engine.connect()
            try:
                result = conn.execution_options(stream_results=True).exec_driver_sql(
                    src.stmt.text, params
                )
            except Exception:
                conn.close()
                raise
        except Exception as exc:  # noqa: BLE001 - retried or reported below
            if is_disconnect(exc):
                self.db.mark_down(exc)
                delay = self._backoff.next_delay()
                log.warning("%s: %s; trying again", src.label, self.db.describe_down(exc))
                self._awake = datetime.now(timezone.utc) + timedelta(seconds=delay)
                return False
            log.error("%s: the query failed: %s", src.label, describe_error(exc))
            self._failed = True
            return False
        self.db.mark_up()
        self._conn, self._result = conn, result
        self._columns = list(result.keys()) if result.returns_rows else []
        if not result.returns_rows:
            self._finish()
        return True

    def _finish(self) -> None:
        self._exhausted = True
        for held in (self._result, self._conn):
            if held is not None:
                with contextlib.suppress(Exception):  # a broken cursor or connection
                    held.close()
        self._result = self._conn = None

    def next_awake(self) -> datetime | None:
        return self._awake

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            payloads = self._pending.pop(id(batch), None)
            if payloads is None or error is None:
                return
            if self.source.replay:
                self._replays.append(payloads)
                return
        log.warning(
            "%s: %d row(s) were not written (%s); dropping them",
            self.source.label,
            len(payloads),
            error,
        )

    def close(self) -> None:
        self._finish()
        self.db.close()


def _select_text(conf: dict[str, Any]) -> str:
    return select_text(
        str(conf["table"]), [str(c) for c in conf["columns"]],
        where=str(conf.get("where") or ""),
        prefix=str(conf.get("prefix") or ""), suffix=str(conf.get("suffix") or ""),
    )  # fmt: skip


def _check_select(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    SqlQueryInput(conf, ctx, _select_text(conf), generated=True, connect=False)


def _check_raw(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    SqlQueryInput(conf, ctx, str(conf["query"]), generated=False, connect=False)


@register_input(
    "sql_select",
    fields=[
        *connection_fields(),
        *table_fields(where=True),
        args_mapping_field(what="the placeholders of `where`"),
        *affix_fields("SELECT"),
        _replay_field(),
    ],
    summary="Runs a SELECT and emits a message per row; the input ends after the last row.",
    description="Each row becomes a JSON object keyed by column name.",
    examples=(
        "sql_select:\n  driver: postgres\n"
        "  dsn: postgres://user:secret@localhost:5432/plant?sslmode=disable\n"
        "  table: readings\n  columns: [ '*' ]\n  where: ts >= ?\n"
        "  args_mapping: root = [ now().ts_unix() - 3600 ]\n  suffix: ORDER BY ts\n",
    ),
)
@offline_check(_check_select)
def build_sql_select(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Runs a SELECT and emits a message per row; the input ends after the last row."""
    return SqlQueryInput(conf, ctx, _select_text(conf), generated=True)


@register_input(
    "sql_raw",
    fields=[
        *connection_fields(),
        Field(
            "query",
            "string",
            description="The query to run; placeholders as the driver has them: `$1` ... for "
            "postgres, `?` for mysql and sqlite.",
            examples=("SELECT asset, avg(value) AS mean FROM readings GROUP BY asset",),
        ),
        args_mapping_field(),
        _replay_field(),
    ],
    summary="Runs any query and emits a message per row; the input ends after the last row.",
    examples=(
        "sql_raw:\n  driver: mysql\n  dsn: user:secret@tcp(localhost:3306)/plant\n"
        "  query: SELECT asset, count(*) AS n FROM readings WHERE ts > ? GROUP BY asset\n"
        "  args_mapping: root = [ now().ts_unix() - 3600 ]\n",
    ),
)
@offline_check(_check_raw)
def build_sql_raw(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Runs any query and emits a message per row; the input ends after the last row."""
    return SqlQueryInput(conf, ctx, str(conf["query"]), generated=False)


for _name in ("sql_select", "sql_raw"):
    register_feature("input", _name, "bindings", "sql")
