"""Output batching: count, byte_size and period triggers; close flushes the rest."""

from __future__ import annotations

import time

import pytest
from component_helpers import Recorder, msgs

from streamforge.plugin.batching import BatchingOutput, BatchPolicy, with_batching


def test_no_trigger_means_no_wrapper() -> None:
    rec = Recorder()
    assert with_batching(rec, {"count": 0, "byte_size": 0, "period": "", "check": ""}) is rec


def test_count_trigger_writes_full_batches_and_close_flushes_the_rest() -> None:
    rec = Recorder()
    out = with_batching(rec, {"count": 3})
    assert isinstance(out, BatchingOutput)
    for payload in "abcde":
        out.write_batch(msgs(payload))
    assert [[m.payload for m in b] for b in rec.batches] == [[b"a", b"b", b"c"]]
    out.close()
    assert [[m.payload for m in b] for b in rec.batches] == [[b"a", b"b", b"c"], [b"d", b"e"]]
    assert rec.closed


def test_byte_size_trigger() -> None:
    rec = Recorder()
    out = with_batching(rec, {"byte_size": 10})
    out.write_batch(msgs("12345", "1234"))
    assert rec.batches == []
    out.write_batch(msgs("1"))
    assert len(rec.batches) == 1 and len(rec.batches[0]) == 3
    out.close()


def test_period_flushes_an_incomplete_batch() -> None:
    rec = Recorder()
    out = with_batching(rec, {"count": 100, "period": "50ms"})
    out.write_batch(msgs("a", "b"))
    assert rec.batches == []
    deadline = time.monotonic() + 5
    while not rec.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m.payload for m in rec.messages] == [b"a", b"b"]
    out.close()


def test_failures_of_a_triggered_write_are_returned() -> None:
    rec = Recorder(fail=lambda m: m.payload == b"bad")
    out = with_batching(rec, {"count": 2})
    assert out.write_batch(msgs("ok")) == []
    failed = out.write_batch(msgs("bad"))
    assert [m.payload for m in failed] == [b"bad"]
    assert failed[0].error == "boom"


def test_flush_writes_what_is_buffered() -> None:
    rec = Recorder()
    out = with_batching(rec, {"count": 10})
    out.write_batch(msgs("a"))
    assert out.flush() == []
    assert rec.payloads == [b"a"]


def test_policy_parsing() -> None:
    p = BatchPolicy.from_conf({"count": 5, "byte_size": 0, "period": "1m30s"})
    assert (p.count, p.byte_size, p.period, p.active) == (5, 0, 90.0, True)
    assert not BatchPolicy.from_conf({}).active
    with pytest.raises(ValueError):
        BatchPolicy.from_conf({"count": -1})


def _archive(conf: dict, ctx: object) -> object:
    """A batch processor that turns a batch into one message joining the payloads."""
    from streamforge.message import Message
    from streamforge.plugin import Processor

    class Archive(Processor):
        def process_batch(self, batch: list[Message]) -> list[Message]:
            bad = [m.fail("archive: refused") for m in batch if m.payload == b"bad"]
            good = [m for m in batch if m.payload != b"bad"]
            return [Message(b"|".join(m.payload for m in good)), *bad]

    return Archive()


class _Ctx:
    def build_processors(self, confs: list) -> list:
        return [_archive(c, self) for c in confs]


def test_batch_processors_turn_each_batch_into_what_is_written() -> None:
    rec = Recorder()
    out = with_batching(rec, {"count": 3, "processors": [{"archive": {}}]}, _Ctx())  # type: ignore[arg-type]
    failed = out.write_batch(msgs("a", "bad", "c", "d"))
    assert rec.payloads == [b"a|c"]
    assert [(m.payload, m.error) for m in failed] == [(b"bad", "archive: refused")]
    assert out.flush() == [] and rec.payloads == [b"a|c", b"d"]


def test_a_failed_write_of_the_processed_batch_fails_every_message_in_it() -> None:
    rec = Recorder(fail=lambda m: True, reason="disk full")
    out = with_batching(rec, {"count": 2, "processors": [{"archive": {}}]}, _Ctx())  # type: ignore[arg-type]
    failed = out.write_batch(msgs("a", "b"))
    assert [(m.payload, m.error) for m in failed] == [(b"a", "disk full"), (b"b", "disk full")]
