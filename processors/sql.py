"""`sql_insert`, `sql_select` and `sql_raw` processors: a statement per message, as in Benthos.

`sql_insert` inserts a row per message and leaves the message as it was; `sql_select` and
`sql_raw` replace the message with the result rows (a JSON array of objects). A message whose
statement fails keeps its content and is flagged with the error; when the database is
unreachable the statement is tried again once after reconnecting, then the message is
flagged. Each processor keeps its own pool of connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.connectors.sql import (
    ArgsMapping,
    Database,
    InsertQuery,
    affix_fields,
    args_mapping_field,
    connection_fields,
    execute,
    failure_reason,
    fetch_rows,
    insert_fields,
    raw_queries,
    raw_queries_field,
    select_text,
    statement,
    table_fields,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error

__all__ = ["SqlInsertProcessor", "SqlRawProcessor", "SqlSelectProcessor"]


class _SqlProcessor(Processor):
    """A processor that runs one transaction per message on its own pool."""

    name = "sql"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None) -> None:
        self.label = getattr(ctx, "label", "") or self.name
        self.db = Database(conf, stream=getattr(ctx, "stream", "") or "stream", label=self.label)
        self.driver = self.db.driver

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for i, msg in enumerate(batch):
            if msg.error is not None:
                continue
            try:
                work = self.prepare(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad mapping flags its message
                msg.error = f"{self.name} {self.label}: {describe_error(exc)}"
                continue
            try:
                result = self.db.run(work)
            except Exception as exc:  # noqa: BLE001 - a failed statement flags its message
                msg.error = f"{self.name} {self.label}: {failure_reason(exc)}"
                continue
            self.finish(msg, result)
        return batch

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Callable[[Any], Any]:
        """What to run in the message's transaction (raises for a bad mapping)."""
        raise NotImplementedError

    def finish(self, msg: Message, result: Any) -> None:
        """Put the statement's result into the message."""

    def close(self) -> None:
        self.db.close()


@register_processor(
    "sql_insert",
    fields=[
        *connection_fields(),
        *insert_fields(),
    ],
    summary="Inserts a row into an SQL table for each message; the message is left unchanged.",
    description=(
        "A message whose insert fails keeps its content and is flagged with the error, for "
        "`catch` or a `fallback` to handle. Each message is its own transaction."
    ),
    examples=(
        "sql_insert:\n  driver: mysql\n  dsn: user:secret@tcp(localhost:3306)/plant\n"
        "  table: readings\n  columns: [ id, asset, value ]\n"
        '  args_mapping: root = [ this.id, meta("asset_id"), this.value ]\n',
    ),
)
class SqlInsertProcessor(_SqlProcessor):
    """Inserts a row into an SQL table for each message; the message is left unchanged."""

    name = "sql_insert"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(conf, ctx)
        self.insert = InsertQuery(conf, self.driver)

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Callable[[Any], Any]:
        params = self.insert.bind(msg, batch, i)
        stmt = self.insert.single
        return lambda conn: execute(conn, stmt, params)


@register_processor(
    "sql_select",
    fields=[
        *connection_fields(),
        *table_fields(where=True),
        args_mapping_field(what="the placeholders of `where`"),
        *affix_fields("SELECT"),
    ],
    summary="Runs a SELECT for each message and replaces it with the rows, an array of objects.",
    description=(
        "The message becomes a JSON array with one object per row, keyed by column name. A "
        "message whose query fails keeps its content and is flagged with the error."
    ),
    examples=(
        "sql_select:\n  driver: postgres\n"
        "  dsn: postgres://user:secret@localhost:5432/plant?sslmode=disable\n"
        "  table: assets\n  columns: [ id, name, line ]\n  where: id = ?\n"
        "  args_mapping: root = [ this.asset_id ]\n",
    ),
)
class SqlSelectProcessor(_SqlProcessor):
    """Runs a SELECT for each message and replaces it with the rows, an array of objects."""

    name = "sql_select"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(conf, ctx)
        text = select_text(
            str(conf["table"]), [str(c) for c in conf["columns"]],
            where=str(conf.get("where") or ""),
            prefix=str(conf.get("prefix") or ""), suffix=str(conf.get("suffix") or ""),
        )  # fmt: skip
        self.stmt = statement(text, self.driver, generated=True)
        self.args = ArgsMapping(str(conf.get("args_mapping") or ""))

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Callable[[Any], Any]:
        params = self.stmt.bind(self.args.values(msg, batch, i))
        stmt = self.stmt
        return lambda conn: fetch_rows(execute(conn, stmt, params))

    def finish(self, msg: Message, result: Any) -> None:
        msg.set_value(result)


def _query_fields() -> list[Field]:
    return [
        Field(
            "query",
            "string",
            default="",
            description="The statement to run; placeholders as the driver has them: `$1` ... "
            "for postgres, `?` for mysql and sqlite.",
            examples=(
                "INSERT INTO readings (asset, value) VALUES ($1, $2)",
                "SELECT * FROM assets WHERE line = ?",
            ),
        ),
        Field(
            "unsafe_dynamic_query",
            "bool",
            default=False,
            advanced=True,
            description="Interpolate `${! }` in `query` per message. Placeholders remain the "
            "safe way to put values into a statement.",
        ),
        args_mapping_field(),
    ]


def _raw_queries_field() -> Field:
    return raw_queries_field(
        "Statements run in one transaction per message, after `query` when both are set.",
        Field("exec_only", "bool", default=False, description="Discard this statement's result."),
    )


@register_processor(
    "sql_raw",
    fields=[
        *connection_fields(),
        *_query_fields(),
        Field(
            "exec_only",
            "bool",
            default=False,
            description="Discard the result and leave the message unchanged (for INSERT, "
            "UPDATE ...); otherwise the message becomes the result rows.",
        ),
        _raw_queries_field(),
    ],
    summary="Runs any SQL statement per message; the message becomes the rows it returns.",
    description=(
        "The message is replaced with a JSON array of the result rows (an empty array for a "
        "statement that returns none) unless `exec_only` is set. With `queries`, every "
        "statement runs in one transaction and the last one that is not `exec_only` gives "
        "the result. A failing statement flags the message and rolls the transaction back."
    ),
    examples=(
        "sql_raw:\n  driver: postgres\n"
        "  dsn: postgres://user:secret@localhost:5432/plant?sslmode=disable\n"
        "  query: UPDATE assets SET last_seen = $1 WHERE id = $2\n"
        "  args_mapping: root = [ now(), this.asset_id ]\n  exec_only: true\n",
    ),
)
class SqlRawProcessor(_SqlProcessor):
    """Runs any SQL statement per message; the message becomes the rows it returns."""

    name = "sql_raw"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(conf, ctx)
        self.queries = raw_queries(conf, self.driver, exec_default=False)
        self.unchanged = all(q.exec_only for q in self.queries)

    def prepare(self, msg: Message, batch: list[Message], i: int) -> Callable[[Any], Any]:
        bound = [(q, *q.bound(msg, batch, i)) for q in self.queries]

        def work(conn: Any) -> Any:
            rows = None
            for query, stmt, params in bound:
                result = execute(conn, stmt, params)
                if not query.exec_only:
                    rows = fetch_rows(result)
            return rows

        return work

    def finish(self, msg: Message, result: Any) -> None:
        if not self.unchanged:
            msg.set_value(result if result is not None else [])


for _name in ("sql_insert", "sql_select", "sql_raw"):
    register_feature("processor", _name, "bindings", "sql")
