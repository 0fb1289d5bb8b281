"""Decoding of PostgreSQL's `pgoutput` logical replication messages (protocol version 1).

Each change the server decodes from its write-ahead log arrives as one binary message: a type
byte, then big-endian integers, NUL-terminated strings and tuple data. Column values stay in
the text form the server wrote them in; `values` turns them into JSON values by type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "UNCHANGED",
    "Begin",
    "Column",
    "Commit",
    "Delete",
    "Insert",
    "LogicalMessage",
    "Origin",
    "PgOutputError",
    "PgOutputMessage",
    "Relation",
    "Truncate",
    "TupleData",
    "TypeInfo",
    "Update",
    "format_lsn",
    "parse",
    "parse_lsn",
]

#: PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


class PgOutputError(ValueError):
    """A message is not valid pgoutput (truncated, or of an unknown kind)."""


class _Unchanged:
    """A TOASTed value the change did not touch: the server does not send it again."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()

#: one column of a tuple: None (SQL NULL), UNCHANGED, or the value's text form
ColumnValue = bytes | None | _Unchanged
TupleData = tuple[ColumnValue, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # where the transaction's commit record starts
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int  # just past the commit record: where decoding resumes after it
    commit_time: datetime


@dataclass(frozen=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True)
class Relation:
    relation_id: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class TypeInfo:
    type_oid: int
    namespace: str
    name: str


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: TupleData


@dataclass(frozen=True)
class Update:
    relation_id: int
    #: "K" (the old key), "O" (the whole old row, REPLICA IDENTITY FULL) or "" (not sent)
    old_kind: str
    old: TupleData | None
    new: TupleData


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old_kind: str  # "K" or "O"
    old: TupleData


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class LogicalMessage:
    """A message written with `pg_logical_emit_message` (sent with `messages 'true'`)."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = (
    Begin
    | Commit
    | Origin
    | Relation
    | TypeInfo
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
)


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL writes it: `16/B374D848`."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """The number of an LSN written `16/B374D848` (raises ValueError)."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low:
        raise ValueError(f"{text!r} is not an LSN (e.g. 16/B374D848)")
    return (int(high, 16) << 32) | int(low, 16)


class _Reader:
    """Reads the fields of one message, failing with PgOutputError when it is too short."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise PgOutputError(f"message ends after {len(self.data)} bytes, {end} needed")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> str:
        return chr(self._take(1)[0])

    def int8(self) -> int:
        return self._take(1)[0]

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def uint32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def time(self) -> datetime:
        return PG_EPOCH + timedelta(microseconds=self.int64())

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise PgOutputError("a string is not terminated")
        text = self.data[self.pos : end].decode("utf-8", errors="replace")
        self.pos = end + 1
        return text

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    def tuple_data(self) -> TupleData:
        values: list[ColumnValue] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind in ("t", "b"):
                values.append(self._take(self.int32()))
            else:
                raise PgOutputError(f"unknown tuple column kind {kind!r}")
        return tuple(values)


def parse(data: bytes) -> PgOutputMessage:
    """Decode one pgoutput message (raises PgOutputError when it is not valid)."""
    if not data:
        raise PgOutputError("empty message")
    r = _Reader(bytes(data))
    kind = r.byte()
    parser = _PARSERS.get(kind)
    if parser is None:
        raise PgOutputError(f"unknown message type {kind!r}")
    return parser(r)


def _begin(r: _Reader) -> Begin:
    return Begin(final_lsn=r.uint64(), commit_time=r.time(), xid=r.uint32())


def _commit(r: _Reader) -> Commit:
    return Commit(flags=r.int8(), commit_lsn=r.uint64(), end_lsn=r.uint64(), commit_time=r.time())


def _origin(r: _Reader) -> Origin:
    return Origin(lsn=r.uint64(), name=r.string())


def _relation(r: _Reader) -> Relation:
    relation_id = r.uint32()
    namespace = r.string()
    name = r.string()
    identity = r.byte()
    columns = []
    for _ in range(r.int16()):
        flags = r.int8()
        col_name = r.string()
        columns.append(Column(col_name, r.uint32(), r.int32(), bool(flags & 1)))
    return Relation(relation_id, namespace, name, identity, tuple(columns))


def _type(r: _Reader) -> TypeInfo:
    return TypeInfo(type_oid=r.uint32(), namespace=r.string(), name=r.string())


def _insert(r: _Reader) -> Insert:
    relation_id = r.uint32()
    if (marker := r.byte()) != "N":
        raise PgOutputError(f"insert: expected the new tuple ('N'), got {marker!r}")
    return Insert(relation_id, r.tuple_data())


def _update(r: _Reader) -> Update:
    relation_id = r.uint32()
    marker = r.byte()
    old_kind, old = "", None
    if marker in ("K", "O"):
        old_kind, old = marker, r.tuple_data()
        marker = r.byte()
    if marker != "N":
        raise PgOutputError(f"update: expected the new tuple ('N'), got {marker!r}")
    return Update(relation_id, old_kind, old, r.tuple_data())


def _delete(r: _Reader) -> Delete:
    relation_id = r.uint32()
    marker = r.byte()
    if marker not in ("K", "O"):
        raise PgOutputError(f"delete: expected the old key or row ('K' or 'O'), got {marker!r}")
    return Delete(relation_id, marker, r.tuple_data())


def _truncate(r: _Reader) -> Truncate:
    count = r.int32()
    options = r.int8()
    ids = tuple(r.uint32() for _ in range(count))
    return Truncate(ids, cascade=bool(options & 1), restart_identity=bool(options & 2))


def _message(r: _Reader) -> LogicalMessage:
    flags = r.int8()
    lsn = r.uint64()
    prefix = r.string()
    length = r.int32()
    content = r.rest()
    if len(content) != length:
        raise PgOutputError(f"logical message: {len(content)} content bytes, {length} announced")
    return LogicalMessage(bool(flags & 1), lsn, prefix, content)


_PARSERS: dict[str, Callable[[_Reader], PgOutputMessage]] = {
    "B": _begin,
    "C": _commit,
    "O": _origin,
    "R": _relation,
    "Y": _type,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "M": _message,
}
