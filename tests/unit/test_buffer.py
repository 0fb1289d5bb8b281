"""The stream buffers (`system_window`, a batching `memory`) as keyed processors, on a fixed
clock, and the step that cuts their output into the batches they flushed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from streamforge.engine.acks import AckBatch
from streamforge.engine.buffer import BATCH_MARK, BatchBuffer, WindowBuffer, split_marked
from streamforge.message import Message
from streamforge.plugin.testing import PluginTestContext

S = 1_000_000_000  # ns


class Clock:
    def __init__(self, seconds: float) -> None:
        self.ns = int(seconds * S)

    def __call__(self) -> int:
        return self.ns


def window(conf: dict[str, Any], now: float) -> tuple[WindowBuffer, Clock]:
    buf = WindowBuffer(
        {"timestamp_mapping": "root = this.ts", "allowed_lateness": "", "offset": "", **conf},
        PluginTestContext(),
    )
    clock = Clock(now)
    buf.now_ns = clock
    return buf, clock


def feed(buf: Any, states: dict[str, Any], *docs: dict[str, Any]) -> list[Message]:
    batch = [Message(value=d) for d in docs]
    return list(buf.process_shard(["buffer"] * len(batch), batch, states))


def batches(out: list[Message]) -> list[list[Any]]:
    return [[m.value for m in b] for b in split_marked([out])]


def test_tumbling_windows_flush_when_the_clock_passes_their_end() -> None:
    buf, clock = window({"size": "10s"}, now=1000)
    states: dict[str, Any] = {}
    assert (
        feed(buf, states, {"ts": 1001, "v": 1}, {"ts": 1009.5, "v": 2}, {"ts": 1012, "v": 3}) == []
    )
    state = states["buffer"]
    assert buf.notify_at("buffer", state).timestamp() == 1010
    clock.ns = 1010 * S
    out, state = buf.on_notify("buffer", state)
    assert [m.value["v"] for m in out] == [1, 2]
    assert {m.metadata["window_end_timestamp"] for m in out} == {"1970-01-01T00:16:50Z"}
    # what is still open goes out at the end of the input
    out, state = buf.on_eof("buffer", state)
    assert [m.value["v"] for m in out] == [3] and state is None


def test_sliding_windows_copy_a_message_into_each_window() -> None:
    buf, clock = window({"size": "10s", "slide": "5s"}, now=1000)
    states: dict[str, Any] = {}
    feed(buf, states, {"ts": 1007, "v": "a"}, {"ts": 1012, "v": "b"})
    clock.ns = 1020 * S
    out, _ = buf.on_notify("buffer", states["buffer"])
    got = batches(out)
    # windows [1000,1010) [1005,1015) [1010,1020)
    assert got == [[{"ts": 1007, "v": "a"}], [{"ts": 1007, "v": "a"}, {"ts": 1012, "v": "b"}],
                   [{"ts": 1012, "v": "b"}]]  # fmt: skip
    assert all(BATCH_MARK not in m.metadata for m in out)


def test_offset_and_allowed_lateness() -> None:
    buf, clock = window({"size": "10s", "offset": "2s", "allowed_lateness": "3s"}, now=1000)
    states: dict[str, Any] = {}
    feed(buf, states, {"ts": 1011.5, "v": 1})  # window [1002,1012)
    assert buf.notify_at("buffer", states["buffer"]).timestamp() == 1015
    clock.ns = 1014 * S
    out, state = buf.on_notify("buffer", states["buffer"])
    assert out == []
    feed(buf, states, {"ts": 1003, "v": 2})  # late, but within the allowed lateness
    clock.ns = 1015 * S
    out, _ = buf.on_notify("buffer", state)
    assert [m.value["v"] for m in out] == [1, 2]
    assert out[0].metadata["window_end_timestamp"] == "1970-01-01T00:16:52Z"


def test_late_messages_are_dropped_and_bad_timestamps_flagged() -> None:
    buf, _clock = window({"size": "10s"}, now=1030)
    states: dict[str, Any] = {}
    passed = feed(buf, states, {"ts": 1005, "v": "late"}, {"v": "no time"}, {"ts": 1031, "v": 1})
    assert [m.value["v"] for m in passed] == ["no time"]
    assert passed[0].error is not None and "timestamp_mapping" in passed[0].error
    assert list(states["buffer"]["open"]) == [103]


def test_system_time_by_default() -> None:
    buf = WindowBuffer({"size": "1s"}, PluginTestContext())
    states: dict[str, Any] = {}
    before = time.time()
    feed(buf, states, {"v": 1})
    [second] = states["buffer"]["open"]
    assert int(before) <= second <= int(time.time())


def test_batch_policy_count_check_period_and_processors() -> None:
    ctx = PluginTestContext()
    buf = BatchBuffer(
        {"limit": 0, "batch_policy": {"count": 3, "period": "2s", "check": 'this.v == "end"'}},
        ctx,
        None,
    )
    clock = Clock(100)
    buf.now_ns = clock
    states: dict[str, Any] = {}
    out = feed(buf, states, *({"v": i} for i in range(4)), {"v": "end"}, {"v": 9})
    assert batches(out) == [[{"v": 0}, {"v": 1}, {"v": 2}], [{"v": 3}, {"v": "end"}]]
    state = states["buffer"]
    assert buf.notify_at("buffer", state).timestamp() == 102
    clock.ns = 101 * S
    assert buf.on_notify("buffer", state)[0] == []
    clock.ns = 102 * S
    out, _ = buf.on_notify("buffer", state)
    assert [m.value for m in out] == [{"v": 9}]


def test_batch_policy_byte_size() -> None:
    buf = BatchBuffer({"limit": 0, "batch_policy": {"byte_size": 20}}, PluginTestContext(), None)
    states: dict[str, Any] = {}
    out = feed(buf, states, *({"v": "abcd"} for _ in range(3)))  # 12 bytes each
    assert batches(out) == [[{"v": "abcd"}, {"v": "abcd"}]]
    assert len(states["buffer"]["pending"]) == 1


def test_split_marked_shares_an_acknowledgement() -> None:
    msgs = [Message(b"a", {BATCH_MARK: 1}), Message(b"b", {BATCH_MARK: 1}), Message(b"c", {})]
    acked: list[str | None] = []
    out = split_marked([AckBatch(msgs, lambda error=None: acked.append(error))])
    assert [[m.payload for m in b] for b in out] == [[b"a", b"b"], [b"c"]]
    out[0].ack(None)
    assert acked == []
    out[1].ack(None)
    assert acked == [None]


@pytest.mark.parametrize("conf", [{"size": "0s"}, {"size": "1s", "slide": "2s"}])
def test_bad_windows_are_refused(conf: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WindowBuffer(conf, PluginTestContext())
