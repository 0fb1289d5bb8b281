"""Changes: a row as a JSON object with the metadata Redpanda Connect gives it (`operation`,
`table`, and `binlog_position` for rows from the binlog)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.values import TableSchema

__all__ = ["Change", "is_rows_event", "row_changes"]

#: the binlog reader's event classes by the operation their rows are
_OPERATIONS = {"WriteRowsEvent": "insert", "UpdateRowsEvent": "update", "DeleteRowsEvent": "delete"}


@dataclass
class Change:
    """One message: the row and its metadata."""

    value: Any
    metadata: dict[str, Any]


def row_changes(event: Any, schema: TableSchema, position: BinlogPosition) -> list[Change]:
    """The rows of a binlog rows event; an update is its new row."""
    operation = _OPERATIONS[type(event).__name__]
    key = "after_values" if operation == "update" else "values"
    meta = {"operation": operation, "table": event.table, "binlog_position": str(position)}
    return [Change(schema.row(row[key]), dict(meta)) for row in event.rows]


def is_rows_event(event: Any) -> bool:
    return type(event).__name__ in _OPERATIONS
