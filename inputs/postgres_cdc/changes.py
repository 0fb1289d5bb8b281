"""From decoded slot rows to the messages the input emits, transaction by transaction.

`pg_logical_slot_peek_binary_changes` returns whole transactions in commit order, every time
from the slot's confirmed position. Transactions (and heartbeat messages) up to `after`, the
last one already handed to the stream, are skipped, so a transaction is emitted once however
often it is peeked at; each emitted one ends with the position to confirm once it was written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from streamforge.inputs.postgres_cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    PgOutputError,
    PgOutputMessage,
    Relation,
    Truncate,
    TupleData,
    Update,
    format_lsn,
    parse,
)
from streamforge.inputs.postgres_cdc.values import TypeMap

__all__ = ["Assembled", "Change", "ChangeAssembler", "Step"]


@dataclass(frozen=True)
class Change:
    """One message: the row as a JSON object (None for transaction markers) and metadata."""

    value: Any
    metadata: dict[str, Any]


@dataclass
class Step:
    """What one transaction (or heartbeat) adds: its messages, then the position to confirm."""

    #: the commit record's LSN (a heartbeat's own): steps arrive in this order
    order: int
    #: where decoding resumes once this step was written
    position: int
    changes: list[Change] = field(default_factory=list)


@dataclass
class Assembled:
    steps: list[Step]
    #: the order of the last step emitted so far (the next peek skips up to it)
    after: int
    #: how many of the rows belonged to steps emitted before
    skipped_rows: int
    #: tables truncated in the new transactions (TRUNCATE is not emitted as messages)
    truncated: list[str] = field(default_factory=list)


def _unix_ms(when: datetime) -> str:
    return str(int((when - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1000))


class ChangeAssembler:
    """Keeps the relations the server described and turns peeked rows into steps."""

    def __init__(
        self, types: TypeMap, *, markers: bool = False, unchanged_toast: Any = None
    ) -> None:
        self.types = types
        self.markers = markers
        self.unchanged_toast = unchanged_toast
        self.relations: dict[int, Relation] = {}

    @staticmethod
    def decode(rows: Iterable[tuple[int, bytes]]) -> list[tuple[int, PgOutputMessage]]:
        """Parse every row's message (raises PgOutputError naming the LSN of a bad one)."""
        out = []
        for lsn, data in rows:
            try:
                out.append((lsn, parse(data)))
            except PgOutputError as exc:
                raise PgOutputError(f"at LSN {format_lsn(lsn)}: {exc}") from None
        return out

    @staticmethod
    def type_oids(messages: Iterable[tuple[int, PgOutputMessage]]) -> set[int]:
        """The column types of the relations among `messages`."""
        return {c.type_oid for _, m in messages if isinstance(m, Relation) for c in m.columns}

    def assemble(self, messages: list[tuple[int, PgOutputMessage]], after: int) -> Assembled:
        """Steps for the transactions of `messages` past `after` (see the module docs)."""
        steps: list[Step] = []
        truncated: list[str] = []
        skipped_rows = 0
        step: Step | None = None
        begin: Begin | None = None
        skipping = False
        for row, (lsn, msg) in enumerate(messages):
            if isinstance(msg, Relation):
                self.relations[msg.relation_id] = msg
            elif isinstance(msg, Begin):
                begin = msg
                skipping = msg.final_lsn <= after
                step = None if skipping else Step(order=msg.final_lsn, position=0)
            elif isinstance(msg, Commit):
                if skipping or step is None:
                    skipped_rows = row + 1
                else:
                    step.position = msg.end_lsn
                    if self.markers and step.changes and begin is not None:
                        step.changes.insert(0, self._marker("begin", begin.final_lsn, begin))
                        step.changes.append(self._marker("commit", msg.commit_lsn, begin))
                    steps.append(step)
                    after = step.order
                step, begin, skipping = None, None, False
            elif isinstance(msg, LogicalMessage):
                if msg.transactional:
                    continue
                if msg.lsn <= after:
                    skipped_rows = row + 1
                else:
                    steps.append(Step(order=msg.lsn, position=msg.lsn))
                    after = msg.lsn
            elif isinstance(msg, (Insert, Update, Delete)):
                if step is not None and begin is not None:
                    step.changes.append(self._change(lsn, msg, begin))
            elif isinstance(msg, Truncate) and step is not None:
                truncated.extend(self._name(i) for i in msg.relation_ids)
        return Assembled(steps, after, skipped_rows, truncated)

    def _name(self, relation_id: int) -> str:
        rel = self.relations.get(relation_id)
        return f"{rel.namespace}.{rel.name}" if rel is not None else f"relation {relation_id}"

    def _marker(self, operation: str, lsn: int, begin: Begin) -> Change:
        meta = {"operation": operation, "lsn": format_lsn(lsn)}
        meta["commit_ts_ms"] = _unix_ms(begin.commit_time)
        return Change(None, meta)

    def _change(self, lsn: int, msg: Insert | Update | Delete, begin: Begin) -> Change:
        rel = self.relations.get(msg.relation_id)
        if rel is None:
            raise PgOutputError(
                f"at LSN {format_lsn(lsn)}: a change of relation {msg.relation_id}, which the "
                "server did not describe"
            )
        meta: dict[str, Any] = {"table": rel.name}
        if isinstance(msg, Insert):
            meta["operation"] = "insert"
            value = self.row(rel, msg.new)
        elif isinstance(msg, Update):
            meta["operation"] = "update"
            full_old = msg.old if msg.old_kind == "O" else None
            value = self.row(rel, msg.new, full_old)
            if msg.old is not None:
                meta["before"] = self.row(rel, msg.old)
        else:
            meta["operation"] = "delete"
            value = self.row(rel, msg.old)
            meta["before"] = dict(value)
        meta["lsn"] = format_lsn(lsn)
        meta["commit_ts_ms"] = _unix_ms(begin.commit_time)
        return Change(value, meta)

    def row(self, rel: Relation, values: TupleData, old: TupleData | None = None) -> dict[str, Any]:
        """A tuple as a JSON object; unchanged TOAST values from `old` when it has them."""
        out: dict[str, Any] = {}
        types = self.types
        for i, (col, raw) in enumerate(zip(rel.columns, values)):
            if raw is UNCHANGED and old is not None and i < len(old):
                raw = old[i]
            if raw is None:
                out[col.name] = None
            elif raw is UNCHANGED:
                out[col.name] = self.unchanged_toast
            else:
                assert isinstance(raw, bytes)
                out[col.name] = types.value(col.type_oid, raw)
        return out
