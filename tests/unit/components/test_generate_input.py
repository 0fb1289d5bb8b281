"""`generate` input: mapping per message, count, batch_size, interval and resume."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from component_helpers import build

from streamforge.message import Message


def read_all(reader, limit: int = 10_000) -> list[Message]:  # type: ignore[no-untyped-def]
    out: list[Message] = []
    for _ in range(limit):
        batch = reader.read()
        if batch is None:
            return out
        out.extend(batch)
    raise AssertionError("generate did not end")


def conf(**kw):  # type: ignore[no-untyped-def]
    base = {"mapping": "root = {}", "interval": "", "count": 0, "batch_size": 1}
    base.update(kw)
    return base


def test_count_limits_total_messages_and_functions_run_per_message() -> None:
    inp = build(
        "input", "generate", conf(mapping='root = {"n": counter(), "id": uuid_v4()}', count=5)
    )
    out = read_all(inp.open("0", None))
    assert [m.value["n"] for m in out] == [1, 2, 3, 4, 5]
    assert len({m.value["id"] for m in out}) == 5


def test_batch_size_groups_messages_and_last_batch_is_partial() -> None:
    inp = build("input", "generate", conf(count=5, batch_size=2))
    reader = inp.open("0", None)
    sizes = []
    while (batch := reader.read()) is not None:
        sizes.append(len(batch))
    assert sizes == [2, 2, 1]


def test_metadata_assignments_land_in_message_metadata() -> None:
    inp = build("input", "generate", conf(mapping='meta asset = "pump-1"\nroot = "hello"', count=1))
    (msg,) = read_all(inp.open("0", None))
    assert msg.metadata == {"asset": "pump-1"}
    assert msg.payload == b"hello"


def test_interval_schedules_the_next_batch_instead_of_sleeping() -> None:
    inp = build("input", "generate", conf(interval="1h", count=3))
    reader = inp.open("0", None)
    assert len(reader.read()) == 1
    due = reader.next_awake()
    assert due is not None and due > datetime.now(timezone.utc)
    assert reader.read() == []


def test_snapshot_resumes_the_count() -> None:
    inp = build("input", "generate", conf(mapping="root = counter()", count=5))
    reader = inp.open("0", None)
    reader.read()
    reader.read()
    assert reader.snapshot()["generated"] == 2
    rest = read_all(inp.open("0", reader.snapshot()))
    assert [m.value for m in rest] == [3, 4, 5]  # counter() goes on where it was


def test_a_snapshot_of_version_0_1_resumes_the_count() -> None:
    inp = build("input", "generate", conf(mapping="root = counter()", count=5))
    assert len(read_all(inp.open("0", 2))) == 3


def test_a_failing_mapping_yields_a_flagged_message() -> None:
    inp = build("input", "generate", conf(mapping='root = throw("no")', count=1))
    (msg,) = read_all(inp.open("0", None))
    assert msg.error is not None and "no" in msg.error


def test_deleted_root_generates_nothing() -> None:
    inp = build("input", "generate", conf(mapping="root = deleted()", count=3))
    assert read_all(inp.open("0", None)) == []


@pytest.mark.parametrize("interval", ["", "0s"])
def test_empty_interval_is_as_fast_as_possible(interval: str) -> None:
    inp = build("input", "generate", conf(interval=interval, count=2))
    reader = inp.open("0", None)
    assert len(reader.read()) == 1
    assert reader.next_awake() is None


def test_a_cron_interval_waits_for_its_first_time_and_then_follows_the_schedule() -> None:
    inp = build("input", "generate", conf(interval="0 0 * * * *", count=3))
    reader = inp.open("0", None)
    assert reader.read() == []  # the first batch comes at the first time after the start
    due = reader.next_awake()
    now = datetime.now(timezone.utc)
    assert due is not None and now < due <= now.replace(minute=0, second=0) + timedelta(hours=1)
    assert (due.minute, due.second, due.microsecond) == (0, 0, 0)
    assert reader.read() == []  # not yet


def test_a_cron_interval_fires_every_second() -> None:
    inp = build("input", "generate", conf(interval="* * * * * *", count=2))
    reader = inp.open("0", None)
    got: list[datetime] = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        if reader.read():
            got.append(datetime.now(timezone.utc))
        due = reader.next_awake()
        if due is not None:
            time.sleep(max((due - datetime.now(timezone.utc)).total_seconds(), 0))
    assert len(got) == 2
    assert [t.microsecond < 700_000 for t in got] == [True, True]  # at the top of a second
    assert timedelta(seconds=0.5) < got[1] - got[0] < timedelta(seconds=2.5)
