"""The postgres_cdc input's pieces without a server: pgoutput messages (some as PostgreSQL 15
wrote them), column values by type, transactions into messages, acknowledgements into slot
positions, and the config's checks."""

from __future__ import annotations

import struct
from datetime import datetime, timezone

import pytest

from streamforge.inputs.postgres_cdc.changes import ChangeAssembler
from streamforge.inputs.postgres_cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    PgOutputError,
    Relation,
    Truncate,
    Update,
    format_lsn,
    parse,
    parse_lsn,
)
from streamforge.inputs.postgres_cdc.settings import (
    CdcSettings,
    ConnectParams,
    check_identifier,
    check_slot_name,
    display_dsn,
)
from streamforge.inputs.postgres_cdc.tracker import AckTracker
from streamforge.inputs.postgres_cdc.values import TypeMap, parse_array

# -- messages as PostgreSQL 15 sent them for `CREATE TABLE t (id int PRIMARY KEY, v text,
# n numeric(10,2), j jsonb, ts timestamp, b bool)` and one INSERT -------------------------------

PG15_BEGIN = b"B\x00\x00\x00\x00\x01\x94\x82\xe0\x00\x03\x04\xe7\xef\xbb7\xc7\x00\x00\x02\xd8"
PG15_RELATION = (
    b"R\x00\x00@\x01public\x00t\x00d\x00\x06\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00v\x00"
    b"\x00\x00\x00\x19\xff\xff\xff\xff\x00n\x00\x00\x00\x06\xa4\x00\n\x00\x06\x00j\x00\x00\x00"
    b"\x0e\xda\xff\xff\xff\xff\x00ts\x00\x00\x00\x04Z\xff\xff\xff\xff\x00b\x00\x00\x00\x00\x10"
    b"\xff\xff\xff\xff"
)
PG15_INSERT = (
    b"I\x00\x00@\x01N\x00\x06t\x00\x00\x00\x012t\x00\x00\x00\x01bt\x00\x00\x00\x042.25t\x00\x00"
    b"\x00\x06[1, 2]t\x00\x00\x00\x1a2026-12-05 20:52:16.112266t\x00\x00\x00\x01f"
)
PG15_COMMIT = (
    b"C\x00\x00\x00\x00\x00\x01\x94\x82\xe0\x00\x00\x00\x00\x01\x94\x83\x10\x00\x03\x04\xe7"
    b"\xef\xbb7\xc7"
)


def test_messages_as_postgres_15_wrote_them() -> None:
    begin = parse(PG15_BEGIN)
    assert isinstance(begin, Begin)
    assert format_lsn(begin.final_lsn) == "0/19482E0" and begin.xid == 728
    assert begin.commit_time.year == 2026
    rel = parse(PG15_RELATION)
    assert isinstance(rel, Relation)
    assert (rel.relation_id, rel.namespace, rel.name, rel.replica_identity) == (
        16385, "public", "t", "d",
    )  # fmt: skip
    assert [(c.name, c.type_oid, c.key) for c in rel.columns] == [
        ("id", 23, True), ("v", 25, False), ("n", 1700, False), ("j", 3802, False),
        ("ts", 1114, False), ("b", 16, False),
    ]  # fmt: skip
    assert rel.columns[2].type_modifier == (10 << 16 | 2) + 4
    insert = parse(PG15_INSERT)
    assert isinstance(insert, Insert) and insert.relation_id == 16385
    assert insert.new == (b"2", b"b", b"2.25", b"[1, 2]", b"2026-12-05 20:52:16.112266", b"f")
    commit = parse(PG15_COMMIT)
    assert isinstance(commit, Commit)
    assert commit.commit_lsn == begin.final_lsn and format_lsn(commit.end_lsn) == "0/1948310"


def _string(text: str) -> bytes:
    return text.encode() + b"\x00"


def _tuple(*values: bytes | None | object) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack(">i", len(v)) + v
    return out


def _relation(rel_id: int, name: str, *columns: tuple[str, int, bool]) -> bytes:
    out = b"R" + struct.pack(">I", rel_id) + _string("public") + _string(name) + b"d"
    out += struct.pack(">h", len(columns))
    for col, oid, key in columns:
        out += bytes([1 if key else 0]) + _string(col) + struct.pack(">Ii", oid, -1)
    return out


def _begin(final_lsn: int, xid: int = 7, micros: int = 0) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, micros, xid)


def _commit(commit_lsn: int, end_lsn: int, micros: int = 0) -> bytes:
    return b"C\x00" + struct.pack(">QQq", commit_lsn, end_lsn, micros)


def test_updates_deletes_truncates_and_logical_messages() -> None:
    update = parse(b"U" + struct.pack(">I", 5) + b"O" + _tuple(b"1", b"old") + b"N"
                   + _tuple(b"1", UNCHANGED))  # fmt: skip
    assert isinstance(update, Update)
    assert update.old_kind == "O" and update.old == (b"1", b"old")
    assert update.new == (b"1", UNCHANGED)
    plain = parse(b"U" + struct.pack(">I", 5) + b"N" + _tuple(b"2", None))
    assert isinstance(plain, Update) and plain.old is None and plain.new == (b"2", None)
    delete = parse(b"D" + struct.pack(">I", 5) + b"K" + _tuple(b"3", None))
    assert isinstance(delete, Delete) and delete.old_kind == "K" and delete.old == (b"3", None)
    trunc = parse(b"T" + struct.pack(">ib", 2, 3) + struct.pack(">II", 5, 6))
    assert trunc == Truncate((5, 6), cascade=True, restart_identity=True)
    msg = parse(b"M\x00" + struct.pack(">Q", 0x1_0000_0010) + _string("beat")
                + struct.pack(">i", 2) + b"hi")  # fmt: skip
    assert msg == LogicalMessage(False, 0x1_0000_0010, "beat", b"hi")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"Z\x00", "unknown message type 'Z'"),
        (PG15_INSERT[:20], "ends after"),
        (b"I" + struct.pack(">I", 1) + b"X", "expected the new tuple"),
        (b"D" + struct.pack(">I", 1) + b"N" + _tuple(b"1"), "old key or row"),
        (b"R" + struct.pack(">I", 1) + b"public", "not terminated"),
        (b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"x", "column kind"),
    ],
)
def test_broken_messages_say_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(PgOutputError, match=words):
        parse(data)


def test_lsns_read_and_write_as_postgres_does() -> None:
    assert format_lsn(0x16_B374D848) == "16/B374D848"
    assert parse_lsn("16/B374D848") == 0x16_B374D848
    assert parse_lsn(format_lsn(0)) == 0
    with pytest.raises(ValueError, match="not an LSN"):
        parse_lsn("12345")


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "text", "value"),
    [
        (23, "-42", -42),
        (20, "9007199254740993", 9007199254740993),
        (21, "7", 7),
        (701, "1.5", 1.5),
        (700, "NaN", "NaN"),
        (701, "-Infinity", "-Infinity"),
        (1700, "12.50", "12.50"),
        (16, "t", True),
        (16, "f", False),
        (25, "plain text", "plain text"),
        (3802, '{"a": [1, 2.5, null]}', {"a": [1, 2.5, None]}),
        (114, '[1, "x"]', [1, "x"]),
        (17, "\\x0001ff", "AAH/"),
        (1114, "2024-05-01 10:00:00", "2024-05-01T10:00:00Z"),
        (1114, "2024-05-01 10:00:00.250", "2024-05-01T10:00:00.25Z"),
        (1184, "2024-05-01 10:00:00.123456+00", "2024-05-01T10:00:00.123456Z"),
        (1184, "2024-05-01 12:00:00+02", "2024-05-01T12:00:00+02:00"),
        (1114, "infinity", None),
        (1082, "2024-05-01", "2024-05-01T00:00:00Z"),
        (1083, "10:00:00", "10:00:00"),
        (2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (1007, "{1,2,NULL}", [1, 2, None]),
        (1009, '{"a b","c\\"d",e,NULL,"NULL"}', ["a b", 'c"d', "e", None, "NULL"]),
        (1007, "{{1,2},{3,4}}", [[1, 2], [3, 4]]),
        (1007, "[0:1]={5,6}", [5, 6]),
        (1231, "{1.10,2}", ["1.10", "2"]),
        (1007, "{}", []),
        (23, "not a number", "not a number"),
    ],
)
def test_column_values_by_type(oid: int, text: str, value: object) -> None:
    assert TypeMap().value(oid, text.encode()) == value


def test_user_types_are_learnt_domains_and_arrays_of_them() -> None:
    types = TypeMap()
    assert types.unknown([23, 1009, 16500, 16501, 16502]) == {16500, 16501, 16502}
    types.learn(16500, "domain", 23)  # a domain over integer
    types.learn(16501, "array", 16500)  # an array of it
    types.learn(16502, "text")  # an enum
    assert types.unknown([16500, 16501, 16502]) == set()
    assert types.value(16500, b"5") == 5
    assert types.value(16501, b"{5,6}") == [5, 6]
    assert types.value(16502, b"running") == "running"


def test_array_literals_that_are_not_arrays() -> None:
    for text in ("1,2", "{1,2", '{"a}', "{1}x"):
        with pytest.raises(ValueError):
            parse_array(text)
    assert TypeMap().value(1007, b"{1,2") == "{1,2"


# -- transactions into messages --------------------------------------------------------------

_REL = _relation(5, "readings", ("id", 23, True), ("note", 25, False), ("v", 701, False))
_WHEN = 3_600_000_000  # one hour after 2000-01-01 in microseconds


def _txn(final: int, end: int, *changes: bytes) -> list[tuple[int, bytes]]:
    rows = [(final - 8, _begin(final, micros=_WHEN)), (final - 8, _REL)]
    rows += [(final - 8 + i, c) for i, c in enumerate(changes)]
    return [*rows, (end, _commit(final, end, _WHEN))]


def _insert(*values: bytes | None) -> bytes:
    return b"I" + struct.pack(">I", 5) + b"N" + _tuple(*values)


def _assemble(
    rows: list[tuple[int, bytes]], after: int = 0, **options: object
) -> tuple[ChangeAssembler, object]:
    asm = ChangeAssembler(TypeMap(), **options)  # type: ignore[arg-type]
    return asm, asm.assemble(asm.decode(rows), after)


def test_each_transaction_becomes_its_rows_then_a_position() -> None:
    rows = _txn(0x100, 0x120, _insert(b"1", b"a", b"0.5"), _insert(b"2", None, b"1"))
    rows += _txn(0x200, 0x220, _insert(b"3", b"c", b"2"))
    _, result = _assemble(rows)
    steps = result.steps  # type: ignore[attr-defined]
    assert [(s.order, s.position, len(s.changes)) for s in steps] == [
        (0x100, 0x120, 2), (0x200, 0x220, 1),
    ]  # fmt: skip
    first = steps[0].changes[0]
    assert first.value == {"id": 1, "note": "a", "v": 0.5}
    commit_ms = str(int((datetime(2000, 1, 1, 1, tzinfo=timezone.utc)).timestamp() * 1000))
    assert first.metadata == {
        "table": "readings", "operation": "insert", "lsn": "0/F8", "commit_ts_ms": commit_ms,
    }  # fmt: skip
    assert steps[0].changes[1].value == {"id": 2, "note": None, "v": 1}
    assert result.after == 0x200 and result.skipped_rows == 0  # type: ignore[attr-defined]


def test_transactions_emitted_before_are_skipped_and_counted() -> None:
    rows = _txn(0x100, 0x120, _insert(b"1", b"a", b"0")) + _txn(
        0x200, 0x220, _insert(b"2", b"b", b"0")
    )
    _, result = _assemble(rows, after=0x100)
    assert [s.order for s in result.steps] == [0x200]  # type: ignore[attr-defined]
    assert result.skipped_rows == 4  # type: ignore[attr-defined]
    _, again = _assemble(rows, after=0x200)
    assert again.steps == [] and again.skipped_rows == len(rows)  # type: ignore[attr-defined]


def test_transaction_markers_wrap_the_rows_of_a_transaction() -> None:
    rows = _txn(0x100, 0x120, _insert(b"1", b"a", b"0")) + _txn(0x180, 0x190)  # an empty one
    _, result = _assemble(rows, markers=True)
    steps = result.steps  # type: ignore[attr-defined]
    ops = [c.metadata["operation"] for c in steps[0].changes]
    assert ops == ["begin", "insert", "commit"]
    assert steps[0].changes[0].value is None and steps[0].changes[0].metadata["lsn"] == "0/100"
    assert steps[0].changes[2].metadata["lsn"] == "0/100"
    assert steps[1].changes == [] and steps[1].position == 0x190  # no markers, a position


def test_updates_deletes_and_unchanged_toast_values() -> None:
    full = b"U" + struct.pack(">I", 5) + b"O" + _tuple(b"1", b"long", b"1") + b"N"
    full += _tuple(b"1", UNCHANGED, b"2")
    keyed = b"U" + struct.pack(">I", 5) + b"N" + _tuple(b"2", UNCHANGED, b"3")
    delete = b"D" + struct.pack(">I", 5) + b"K" + _tuple(b"4", None, None)
    rows = _txn(0x100, 0x120, full, keyed, delete)
    _, result = _assemble(rows, unchanged_toast="__unchanged__")
    upd_full, upd_keyed, dele = result.steps[0].changes  # type: ignore[attr-defined]
    assert upd_full.value == {"id": 1, "note": "long", "v": 2}
    assert upd_full.metadata["before"] == {"id": 1, "note": "long", "v": 1}
    assert upd_keyed.value == {"id": 2, "note": "__unchanged__", "v": 3}
    assert "before" not in upd_keyed.metadata
    assert dele.value == {"id": 4, "note": None, "v": None}
    assert dele.metadata["operation"] == "delete" and dele.metadata["before"]["id"] == 4


def test_heartbeats_are_positions_and_truncates_are_reported() -> None:
    beat = b"M\x00" + struct.pack(">Q", 0x300) + _string("hb") + struct.pack(">i", 0)
    trunc = b"T" + struct.pack(">ib", 1, 0) + struct.pack(">I", 5)
    rows = _txn(0x100, 0x120, trunc) + [(0x300, beat)]
    _, result = _assemble(rows)
    assert result.truncated == ["public.readings"]  # type: ignore[attr-defined]
    assert [(s.order, s.position, s.changes) for s in result.steps] == [  # type: ignore[attr-defined]
        (0x100, 0x120, []), (0x300, 0x300, []),
    ]  # fmt: skip
    _, again = _assemble(rows, after=0x300)
    assert again.steps == [] and again.skipped_rows == len(rows)  # type: ignore[attr-defined]


def test_a_change_of_an_undescribed_relation_is_an_error() -> None:
    rows = [(0x10, _begin(0x20)), (0x10, _insert(b"1", b"a", b"0")), (0x30, _commit(0x20, 0x30))]
    with pytest.raises(PgOutputError, match="relation 5"):
        _assemble(rows)


# -- acknowledgements into positions ---------------------------------------------------------


def test_a_position_is_confirmed_once_every_message_before_it_was_written() -> None:
    t = AckTracker()
    t.note_position(0x10)  # nothing in flight: confirmed at once
    assert t.confirmed() == 0x10
    first = t.issue(3)
    t.note_position(0x20)
    second = t.issue(2)
    t.note_position(0x30)
    assert t.in_flight() == 5
    t.done([second, second + 1])  # the later transaction first
    assert t.confirmed() == 0x10
    t.done([first + 1, first + 2])
    assert t.confirmed() == 0x10
    t.done([first])
    assert t.confirmed() == 0x30 and t.in_flight() == 0


# -- config ----------------------------------------------------------------------------------


def test_slot_names_and_identifiers() -> None:
    assert check_slot_name("plant_cdc_1") == "plant_cdc_1"
    for bad in ("Plant", "plant-cdc", "", "x" * 55):
        with pytest.raises(ValueError, match="replication slot name"):
            check_slot_name(bad)
    assert check_identifier("readings") == "readings"
    assert check_identifier('"Asset Events"') == '"Asset Events"'
    for bad in ("two words", "1st", 'a"b', "plant.readings"):
        with pytest.raises(ValueError, match="identifier"):
            check_identifier(bad)


def test_the_dsn_is_shown_without_its_password() -> None:
    assert display_dsn("postgres://cdc:secret@db:5432/plant?sslmode=disable") == (
        "postgres://cdc@db:5432/plant"
    )
    assert display_dsn("host=db port=5433 dbname=plant user=cdc password=secret") == (
        "postgres://cdc@db:5433/plant"
    )


def test_tls_settings_become_libpq_parameters() -> None:
    conf = {
        "dsn": "postgres://cdc@db/plant", "schema": "public", "tables": ["t"], "slot_name": "s",
        "pg_standby_timeout": "30s",
        "tls": {"enabled": True, "root_cas": "-----BEGIN CERTIFICATE-----\n",
                "client_certs": [{"cert": "CERT", "key": "KEY", "password": "pw"}]},
    }  # fmt: skip
    params = ConnectParams(CdcSettings.from_conf(conf))
    try:
        kw = params.kwargs
        assert kw["sslmode"] == "verify-full" and kw["keepalives_idle"] == 30
        with open(kw["sslrootcert"]) as fh:
            assert fh.read().startswith("-----BEGIN CERTIFICATE-----")
        with open(kw["sslkey"]) as fh:
            assert fh.read() == "KEY"
        assert kw["sslpassword"] == "pw"
    finally:
        params.close()
    conf["tls"] = {"enabled": True, "skip_cert_verify": True}
    params = ConnectParams(CdcSettings.from_conf(conf))
    assert params.kwargs["sslmode"] == "require" and "sslrootcert" not in params.kwargs
    conf["tls"] = {"enabled": False}
    assert "sslmode" not in ConnectParams(CdcSettings.from_conf(conf)).kwargs
