"""mysql_cdc's pieces without a server: binlog positions as Connect writes them, column values
typed alike from a query and from the binlog, and the DSN's checks."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.settings import CdcSettings, connect_kwargs
from streamforge.inputs.mysql_cdc.tracker import AckTracker
from streamforge.inputs.mysql_cdc.values import Column, TableSchema


def test_positions_read_back_and_sort_as_the_binlog_does() -> None:
    pos = BinlogPosition("binlog.000042", 500)
    assert str(pos) == "binlog.000042@000001F4"
    assert BinlogPosition.parse(str(pos)) == pos
    assert BinlogPosition("binlog.000002", 4) > BinlogPosition("binlog.000001", 99999)
    with pytest.raises(ValueError, match="not a binlog position"):
        BinlogPosition.parse("binlog.000001:500")


def _schema() -> TableSchema:
    return TableSchema(
        "assets",
        [
            Column("rating", "decimal", "decimal(6,2)"),
            Column("weight", "float", "float"),
            Column("seen", "datetime", "datetime(3)"),
            Column("day", "date", "date"),
            Column("span", "time", "time"),
            Column("doc", "longtext", "longtext", json=True),
            Column("tags", "set", "set('x','y','z')"),
            Column("raw", "varbinary", "varbinary(8)"),
            Column("flag", "bit", "bit(3)"),
        ],
    )


def test_a_row_reads_the_same_from_a_query_and_from_the_binlog() -> None:
    schema = _schema()
    names = ["rating", "weight", "seen", "day", "span", "doc", "tags", "raw", "flag"]
    # as PyMySQL returns them from a SELECT
    queried = schema.row_of(
        names,
        (
            decimal.Decimal("12.50"), 1.1, dt.datetime(2024, 5, 1, 10, 0, 0, 250000),
            dt.date(2024, 5, 1), dt.timedelta(hours=12, minutes=34, seconds=56),
            '{"kw": 7.5}', "z,x", b"\x00\xff", b"\x05",
        ),
    )  # fmt: skip
    # as the binlog reader decodes them
    streamed = schema.row(
        {
            "rating": decimal.Decimal("12.50"), "weight": 1.100000023841858,
            "seen": dt.datetime(2024, 5, 1, 10, 0, 0, 250000), "day": dt.date(2024, 5, 1),
            "span": dt.timedelta(seconds=45296), "doc": '{"kw": 7.5}', "tags": {"x", "z"},
            "raw": b"\x00\xff", "flag": "101",
        }
    )  # fmt: skip
    expected = {
        "rating": "12.50", "weight": 1.1, "seen": "2024-05-01T10:00:00.25Z",
        "day": "2024-05-01T00:00:00Z", "span": "12:34:56", "doc": {"kw": 7.5},
        "tags": ["x", "z"], "raw": "AP8=", "flag": 5,
    }  # fmt: skip
    assert queried == expected
    assert streamed == expected


def test_a_position_is_confirmed_only_once_everything_before_it_was_written() -> None:
    tracker = AckTracker()
    first = tracker.issue(2)
    tracker.note_position(BinlogPosition("binlog.000001", 100))
    second = tracker.issue(1)
    tracker.note_position(BinlogPosition("binlog.000001", 200))
    tracker.done([second])
    assert tracker.confirmed() is None
    tracker.done([first + 1])
    assert tracker.confirmed() is None
    tracker.done([first])
    assert tracker.confirmed() == BinlogPosition("binlog.000001", 200)


def test_the_dsn_must_name_the_database_of_the_tables() -> None:
    assert connect_kwargs("cdc:s%40cret@tcp(db.local:3307)/plant") == {
        "host": "db.local", "port": 3307, "user": "cdc", "password": "s@cret",
        "database": "plant", "charset": "utf8mb4",
    }  # fmt: skip
    with pytest.raises(ValueError, match="names no database"):
        connect_kwargs("cdc:secret@tcp(db.local:3306)/")
    conf = {"dsn": "root@tcp(127.0.0.1)/plant", "tables": ["a"], "stream_snapshot": True}
    with pytest.raises(ValueError, match="checkpoint_cache"):
        CdcSettings.from_conf(conf)
    with pytest.raises(ValueError, match="listed twice"):
        CdcSettings.from_conf({**conf, "checkpoint_cache": "c", "tables": ["a", "a"]})
    assert CdcSettings.from_conf({**conf, "checkpoint_cache": "c"}).display == (
        "mysql://root@127.0.0.1:3306/plant"
    )
