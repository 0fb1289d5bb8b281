"""The reader the Redis, NATS and AMQP inputs share: records become batches, and each batch is
settled with the peer once the stream is done with it (or replayed, or dropped)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.loop_thread import LoopThread
from streamforge.message import Message

log = logging.getLogger("test.acked_reader")


class Rec:
    def __init__(self, n: int) -> None:
        self.n = n

    def message(self) -> Message:
        return Message(str(self.n).encode(), {"n": self.n})


class Reader(AckedReader):
    read_batch = 3

    def __init__(self, *, replay: bool = True, redelivers: bool = False) -> None:
        super().__init__("test", log, replay_nacks=replay)
        self.peer_redelivers = redelivers
        self.settled: list[tuple[list[int], str | None]] = []
        self.abandoned: list[int] = []
        self.shut = threading.Event()

    def settle(self, records: list[Any], error: str | None) -> None:
        self.settled.append(([r.n for r in records], error))

    def abandon(self, records: list[Any], error: str) -> None:
        self.abandoned += [r.n for r in records]

    def shutdown(self) -> None:
        self.shut.set()


def payloads(batch: list[Message] | None) -> list[bytes]:
    assert batch is not None
    return [m.payload for m in batch]


def test_batches_are_settled_after_the_stream_is_done_with_them() -> None:
    r = Reader()
    r.put(Rec(i) for i in range(5))
    first, second = r.read(), r.read()
    assert payloads(first) == [b"0", b"1", b"2"] and payloads(second) == [b"3", b"4"]
    assert r.read() == [] and r.next_awake() is not None
    assert r.outstanding() == 5
    assert first is not None and second is not None
    r.ack(second, None)
    r.ack(first, None)
    assert r.settled == [([3, 4], None), ([0, 1, 2], None)]
    assert r.outstanding() == 0
    r.ack(first, None)  # a batch is settled once
    assert len(r.settled) == 2


def test_failed_batches_are_replayed_with_backoff_as_fresh_messages() -> None:
    r = Reader()
    r.put([Rec(1)])
    batch = r.read()
    assert batch is not None
    batch[0].metadata["changed"] = True
    r.ack(batch, "output down")
    assert r.settled == [] and r.outstanding() == 1
    deadline = time.monotonic() + 2
    again: list[Message] | None = []
    while not again and time.monotonic() < deadline:
        time.sleep(0.05)
        again = r.read()
    assert again is not None and payloads(again) == [b"1"]
    assert again[0].metadata == {"n": 1}  # pristine: built from the record again
    r.ack(again, None)
    assert r.settled == [([1], None)] and r.outstanding() == 0


def test_without_replays_failed_batches_are_dropped_and_acknowledged() -> None:
    r = Reader(replay=False)
    r.put([Rec(1), Rec(2)])
    batch = r.read()
    assert batch is not None
    r.ack(batch, "bad")
    assert r.settled == [([1, 2], None)]


def test_a_peer_that_redelivers_hears_of_the_failure() -> None:
    r = Reader(redelivers=True)
    r.put([Rec(7)])
    batch = r.read()
    assert batch is not None
    r.ack(batch, "bad")
    assert r.settled == [([7], "bad")]


def test_closing_waits_for_batches_in_the_stream_and_abandons_failures() -> None:
    r = Reader()
    r.put([Rec(1), Rec(2), Rec(3), Rec(4)])
    first, second = r.read(), r.read()
    assert first is not None and second is not None
    r.close()
    assert not r.shut.is_set()  # batches still in the stream
    r.ack(first, None)
    assert not r.shut.wait(0.1)
    r.ack(second, "output down")  # cannot be replayed any more: left to the peer
    assert r.shut.wait(2)
    assert r.settled == [([1, 2, 3], None)]
    assert r.abandoned == [4]


def test_put_waits_while_the_queue_is_full() -> None:
    r = Reader()
    r.queue_limit = 2
    r.put([Rec(0), Rec(1)])
    done = threading.Event()

    def producer() -> None:
        r.put([Rec(2)])
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.2)
    r.read()
    assert done.wait(2)
    assert r.outstanding() == 3  # one queued, two in the stream


def test_stale_records_can_be_dropped_from_the_queue() -> None:
    r = Reader()
    r.put(Rec(i) for i in range(4))
    assert r.drop_queued(lambda rec: rec.n % 2 == 0) == 2
    assert payloads(r.read()) == [b"0", b"2"]


def test_loop_thread_runs_coroutines_for_other_threads() -> None:
    import asyncio

    loop = LoopThread("test-loop")

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert loop.run(double(21), 2) == 42
    try:
        loop.run(asyncio.sleep(5), 0.05)
    except TimeoutError as exc:
        assert "0.05" in str(exc)
    else:
        raise AssertionError("no timeout")
    loop.stop()
    assert not loop.running
