"""PendingWrites: what an output that does not wait for its peer tells the engine."""

from __future__ import annotations

import threading
import time

from streamforge.message import Message
from streamforge.plugin.pending import PendingBatch, PendingWrite, PendingWrites


def writes(pending: PendingWrites, n: int, timeout: float = 60.0) -> list[PendingWrite]:
    base = pending.hand_over(n)
    made = [
        PendingWrite(base + i, Message(str(base + i)), time.monotonic() + timeout) for i in range(n)
    ]
    pending.track(made)
    return made


def test_held_counts_from_the_oldest_unconfirmed_write() -> None:
    pending = PendingWrites(lambda: "timed out")
    a, b, c = writes(pending, 3)
    assert pending.held() == 3
    pending.settle(b)  # out of order: a still holds everything after it
    assert pending.held() == 3
    pending.settle(a)
    assert pending.held() == 1
    pending.settle(c)
    assert pending.held() == 0 and pending.unsettled == 0


def test_a_failure_is_held_until_taken() -> None:
    pending = PendingWrites(lambda: "timed out")
    a, b = writes(pending, 2)
    pending.settle(a, "refused")
    pending.settle(b)
    assert pending.held() == 2  # a's failure is not reported yet
    assert [m.error for m in pending.take_failures()] == ["refused"]
    assert pending.held() == 0


def test_writes_past_their_deadline_fail_and_are_given_up() -> None:
    given_up: list[int] = []
    pending = PendingWrites(lambda: "no confirmation", lambda w: given_up.append(w.seq))
    writes(pending, 2, timeout=0.05)
    started = time.monotonic()
    pending.wait_until_fewer(1)
    assert time.monotonic() - started < 1.0
    assert given_up == [0, 1]
    assert [m.error for m in pending.take_failures()] == ["no confirmation"] * 2
    assert pending.held() == 0


def test_a_writer_waits_for_room_and_progress_is_reported_once() -> None:
    pending = PendingWrites(lambda: "timed out")
    reports: list[int] = []
    pending.progress = lambda: reports.append(pending.held())
    made = writes(pending, 4)

    def confirm() -> None:
        time.sleep(0.05)
        for w in made[:3]:
            pending.settle(w)

    threading.Thread(target=confirm).start()
    pending.wait_until_fewer(2)
    assert pending.unsettled == 1
    pending.report_progress()
    pending.report_progress()
    assert reports == [1]


def test_a_batch_holds_its_messages_until_each_is_confirmed_or_failed() -> None:
    pending = PendingWrites(lambda: "timed out")
    msgs = [Message(str(i)) for i in range(3)]
    batch = PendingBatch(pending.hand_over(3), msgs, time.monotonic() + 60)
    pending.track([batch])
    pending.fail_one(batch, 1, "refused")
    assert pending.held() == 3
    pending.settle(batch)
    assert pending.held() == 2  # the failure of the second message is not reported yet
    assert pending.take_failures() == [msgs[1]] and msgs[1].error == "refused"
    assert pending.held() == 0 and pending.unsettled == 0


def test_a_batch_past_its_deadline_fails_every_message_not_failed_yet() -> None:
    pending = PendingWrites(lambda: "no confirmation")
    msgs = [Message(str(i)) for i in range(3)]
    batch = PendingBatch(pending.hand_over(3), msgs, time.monotonic() + 0.05)
    pending.track([batch])
    pending.fail_one(batch, 0, "refused")
    pending.wait_until_fewer(1)
    assert [m.error for m in pending.take_failures()] == ["refused", *["no confirmation"] * 2]
    pending.fail_one(batch, 2, "late")  # a report after the batch was given up on
    assert msgs[2].error == "no confirmation" and not pending.take_failures()
