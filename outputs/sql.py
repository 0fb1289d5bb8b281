"""`sql_insert` and `sql_raw` outputs: each batch written in one transaction.

`sql_insert` turns a batch into multi-row INSERT statements, `sql_raw` runs its statements
for every message of the batch; either way the batch commits or rolls back as a whole. While
the database is unreachable (or goes away mid-batch) the batch is tried again with backoff
until it is written: the stream waits (back-pressure) and /ready names the connection. A
batch the database refuses (a constraint, a type error) fails with the reason, for a
`fallback` to take.
"""

from __future__ import annotations

import threading
from typing import Any

from streamforge.connectors.sql import (
    Database,
    InsertQuery,
    args_mapping_field,
    connection_fields,
    execute,
    failure_reason,
    insert_fields,
    raw_queries,
    raw_queries_field,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import BatchPolicy, batching_field, with_batching
from streamforge.plugin.errors import describe_error
from streamforge.plugin.in_flight import InFlightBatches
from streamforge.plugin.spec import offline_check

__all__ = ["SqlInsertWriter", "SqlRawWriter"]

#: rows per INSERT statement (a batch may take several, in the same transaction)
ROWS_PER_STATEMENT = 500


def _max_in_flight_field() -> Field:
    return Field(
        "max_in_flight",
        "int",
        default=64,
        description="Batches written at once, each in its own transaction on its own "
        "connection (at most the connection pool's size; SQLite writes one at a time). "
        "Above 1, batches may commit out of order; 1 keeps their order.",
    )


def _check(factory: Any) -> Any:
    def check(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        factory(conf, ctx, connect=False)
        batching = conf.get("batching") or {}
        BatchPolicy.from_conf(batching)
        if ctx is not None:
            for proc in ctx.build_processors(list(batching.get("processors") or [])):
                proc.close()

    return check


class _SqlWriter(InFlightBatches, Output):
    """Writes batches in one transaction each, up to max_in_flight at once, retrying while
    the database is away."""

    name = "sql"

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        self.label = getattr(ctx, "label", "") or self.name
        self.db = Database(
            conf,
            stream=getattr(ctx, "stream", "") or "stream",
            label=self.label,
            register=connect,
        )
        self.driver = self.db.driver
        self._stop = threading.Event()
        limit = min(int(conf.get("max_in_flight", 64) or 1), self.db.concurrency)
        self.start_in_flight(limit, f"{self.name} {self.label}")

    def write_now(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        rows: list[tuple[Message, Any]] = []
        for i, msg in enumerate(batch):
            try:
                rows.append((msg, self.prepare(msg, batch, i)))
            except Exception as exc:  # noqa: BLE001 - a bad mapping fails its message
                failed.append(msg.fail(f"{self.name} {self.label}: {describe_error(exc)}"))
        if not rows:
            return failed
        try:
            self.db.run(lambda conn: self.write(conn, rows), retry_forever=True, stop=self._stop)
        except Exception as exc:  # noqa: BLE001 - a refused batch fails its messages
            reason = f"{self.name} {self.label}: {failure_reason(exc)}"
            failed.extend(msg.fail(reason) for msg, _ in rows)
        return failed

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Any:
        """What one message contributes (raises for a bad mapping)."""
        raise NotImplementedError

    def write(self, conn: Any, rows: list[tuple[Message, Any]]) -> None:
        """Write the prepared messages on `conn`, inside the batch's transaction."""
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self.stop_in_flight()
        self.db.close()


class SqlInsertWriter(_SqlWriter):
    """Inserts a batch with multi-row INSERT statements in one transaction."""

    name = "sql_insert"

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        super().__init__(conf, ctx, connect=connect)
        self.insert = InsertQuery(conf, self.driver)

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Any:
        return self.insert.bind(msg, batch, i)

    def write(self, conn: Any, rows: list[tuple[Message, Any]]) -> None:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            stmt = self.insert.statement(len(chunk))
            params = tuple(value for _, values in chunk for value in values)
            conn.exec_driver_sql(stmt.text, params)


class SqlRawWriter(_SqlWriter):
    """Runs its statements for every message of a batch in one transaction."""

    name = "sql_raw"

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        super().__init__(conf, ctx, connect=connect)
        self.queries = raw_queries(conf, self.driver, exec_default=True)

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Any:
        return [q.bound(msg, batch, i) for q in self.queries]

    def write(self, conn: Any, rows: list[tuple[Message, Any]]) -> None:
        for _, bound in rows:
            for stmt, params in bound:
                execute(conn, stmt, params)


def _build(writer: type[_SqlWriter]) -> Any:
    def build(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
        return with_batching(writer(conf, ctx), conf.get("batching"), ctx)

    build.__doc__ = writer.__doc__
    return build


build_sql_insert = register_output(
    "sql_insert",
    fields=[
        *connection_fields(),
        *insert_fields(),
        _max_in_flight_field(),
        batching_field(),
    ],
    summary="Inserts a row into an SQL table for each message; a batch is one transaction.",
    description=(
        "Batches (see `batching`) are written with multi-row INSERT statements in one "
        "transaction. While the database is unreachable the batch is retried with backoff "
        "until written; a batch the database refuses fails with the reason."
    ),
    examples=(
        "sql_insert:\n  driver: postgres\n"
        "  dsn: postgres://user:secret@localhost:5432/plant?sslmode=disable\n"
        "  table: readings\n  columns: [ id, asset, value ]\n"
        "  args_mapping: root = [ this.id, this.asset, this.value ]\n"
        "  suffix: ON CONFLICT (id) DO NOTHING\n"
        "  batching:\n    count: 100\n    period: 1s\n",
    ),
)(offline_check(_check(SqlInsertWriter))(_build(SqlInsertWriter)))


build_sql_raw = register_output(
    "sql_raw",
    fields=[
        *connection_fields(),
        Field(
            "query",
            "string",
            default="",
            description="The statement run for each message; placeholders as the driver has "
            "them: `$1` ... for postgres, `?` for mysql and sqlite.",
            examples=("INSERT INTO readings (asset, value) VALUES ($1, $2)",),
        ),
        Field(
            "unsafe_dynamic_query",
            "bool",
            default=False,
            advanced=True,
            description="Interpolate `${! }` in `query` per message.",
        ),
        args_mapping_field(),
        raw_queries_field(
            "Statements run for each message after `query`, in the same transaction."
        ),
        _max_in_flight_field(),
        batching_field(),
    ],
    summary="Runs SQL statements for each message; a batch is one transaction.",
    description=(
        "Every statement of every message of a batch runs in one transaction. While the "
        "database is unreachable the batch is retried with backoff until written; a batch "
        "the database refuses fails with the reason."
    ),
    examples=(
        "sql_raw:\n  driver: mysql\n  dsn: user:secret@tcp(localhost:3306)/plant\n"
        "  query: INSERT INTO readings (asset, value) VALUES (?, ?)\n"
        "  args_mapping: root = [ this.asset, this.value ]\n",
    ),
)(offline_check(_check(SqlRawWriter))(_build(SqlRawWriter)))


for _name in ("sql_insert", "sql_raw"):
    register_feature("output", _name, "bindings", "sql")
