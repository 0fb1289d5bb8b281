"""`fallback`, `reject_errored`, `broker` and `switch` outputs."""

from __future__ import annotations

import threading

from component_helpers import Recorder, build, msgs

from streamforge.message import Message


def test_fallback_sends_failures_to_the_next_output_with_the_reason() -> None:
    first = Recorder(fail=lambda m: m.payload == b"b", reason="primary down")
    second = Recorder()
    out = build("output", "fallback", [first, second])
    assert out.write_batch(msgs("a", "b")) == []
    assert first.payloads == [b"a"]
    assert second.payloads == [b"b"]
    moved = second.messages[0]
    assert moved.metadata["fallback_error"] == "primary down"
    assert moved.error is None


def test_fallback_returns_what_the_last_output_failed() -> None:
    out = build(
        "output", "fallback", [Recorder(fail=lambda m: True), Recorder(fail=lambda m: True)]
    )
    failed = out.write_batch(msgs("a"))
    assert [m.payload for m in failed] == [b"a"]
    assert failed[0].error == "boom"


def test_reject_errored_with_fallback_is_a_dead_letter_queue(ctx) -> None:  # type: ignore[no-untyped-def]
    good, dlq = Recorder(), Recorder()
    out = build("output", "fallback", [{"reject_errored": good}, dlq], ctx)
    ok, bad = Message(b"ok"), Message(b"bad", error="mapping failed")
    assert out.write_batch([ok, bad]) == []
    assert good.payloads == [b"ok"]
    assert dlq.payloads == [b"bad"]
    assert dlq.messages[0].error == "mapping failed"
    assert dlq.messages[0].metadata["fallback_error"] == "mapping failed"


def test_reject_errored_alone_fails_errored_messages(ctx) -> None:  # type: ignore[no-untyped-def]
    good = Recorder()
    out = build("output", "reject_errored", good, ctx)
    failed = out.write_batch([Message(b"ok"), Message(b"bad", error="nope")])
    assert [m.payload for m in failed] == [b"bad"]
    assert good.payloads == [b"ok"]


def test_broker_fan_out_gives_every_output_its_own_copy() -> None:
    a, b = Recorder(), Recorder()
    out = build("output", "broker", {"pattern": "fan_out", "outputs": [a, b]})
    batch = [Message.from_value({"n": 1})]
    assert out.write_batch(batch) == []
    assert a.payloads == b.payloads == [b'{"n":1}']
    assert a.messages[0] is not b.messages[0]


def test_broker_fan_out_fail_fast_returns_failures_once() -> None:
    a = Recorder(fail=lambda m: True, reason="a down")
    b = Recorder(fail=lambda m: True, reason="b down")
    out = build("output", "broker", {"pattern": "fan_out_fail_fast", "outputs": [a, b]})
    batch = msgs("x")
    failed = out.write_batch(batch)
    assert failed == batch and failed[0] is batch[0]


def test_broker_fan_out_retries_until_written() -> None:
    attempts = {"n": 0}

    def flaky(m: Message) -> bool:
        attempts["n"] += 1
        return attempts["n"] < 3

    a = Recorder(fail=flaky)
    out = build("output", "broker", {"pattern": "fan_out", "outputs": [a]})
    assert out.write_batch(msgs("x")) == []
    assert a.payloads == [b"x"]
    assert attempts["n"] == 3


def test_broker_round_robin_alternates_and_moves_failures_on() -> None:
    a, b = Recorder(), Recorder()
    out = build("output", "broker", {"pattern": "round_robin", "outputs": [a, b]})
    for p in ("1", "2", "3"):
        out.write_batch(msgs(p))
    assert a.payloads == [b"1", b"3"] and b.payloads == [b"2"]
    broken, spare = Recorder(fail=lambda m: True), Recorder()
    out = build("output", "broker", {"pattern": "round_robin", "outputs": [broken, spare]})
    assert out.write_batch(msgs("x")) == []
    assert spare.payloads == [b"x"]


def test_broker_sequential_fail_fast_stops_at_first_failure() -> None:
    a = Recorder(fail=lambda m: m.payload == b"bad")
    b = Recorder()
    out = build("output", "broker", {"pattern": "fan_out_sequential_fail_fast", "outputs": [a, b]})
    failed = out.write_batch(msgs("ok", "bad"))
    assert [m.payload for m in failed] == [b"bad"]
    assert b.payloads == [b"ok"]


def test_broker_close_stops_retrying() -> None:
    a = Recorder(fail=lambda m: True)
    out = build("output", "broker", {"pattern": "fan_out", "outputs": [a]})
    threading.Timer(0.2, out.close).start()
    failed = out.write_batch(msgs("x"))
    assert [m.payload for m in failed] == [b"x"]
    assert a.closed


def test_switch_without_checks_routes_to_first_case(ctx) -> None:  # type: ignore[no-untyped-def]
    a, b = Recorder(), Recorder()
    conf = {
        "retry_until_success": False,
        "strict_mode": False,
        "cases": [{"check": "", "output": a, "continue": True}, {"check": "", "output": b}],
    }
    out = build("output", "switch", conf, ctx)
    assert out.write_batch(msgs("x")) == []
    assert a.payloads == b.payloads == [b"x"]
    assert a.messages[0] is not b.messages[0]


def test_switch_failure_is_returned_without_retry(ctx) -> None:  # type: ignore[no-untyped-def]
    a = Recorder(fail=lambda m: True, reason="down")
    out = build("output", "switch", {"cases": [{"output": a}]}, ctx)
    batch = msgs("x")
    failed = out.write_batch(batch)
    assert failed == batch and failed[0].error == "down"


def test_switch_retry_until_success(ctx) -> None:  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def flaky(m: Message) -> bool:
        calls["n"] += 1
        return calls["n"] == 1

    a = Recorder(fail=flaky)
    out = build("output", "switch", {"retry_until_success": True, "cases": [{"output": a}]}, ctx)
    assert out.write_batch(msgs("x")) == []
    assert a.payloads == [b"x"]
