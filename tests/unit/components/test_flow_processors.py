"""`try`, `catch`, `noop`, `sleep` and check-less `switch` / map-less `branch` processors."""

from __future__ import annotations

import time

from component_helpers import Fn, build, msgs

from streamforge.message import Message
from streamforge.plugin.chain import ProcessorChain


def fail_on(payload: bytes, reason: str = "bad input"):  # type: ignore[no-untyped-def]
    def fn(m: Message) -> Message:
        if m.payload == payload:
            m.error = reason
        return m

    return Fn(fn)


def upper() -> Fn:
    return Fn(lambda m: Message(m.payload.upper(), dict(m.metadata), error=m.error))


def test_try_skips_remaining_processors_for_failed_messages(ctx) -> None:  # type: ignore[no-untyped-def]
    after = upper()
    proc = build("processor", "try", [fail_on(b"b"), after], ctx)
    out = proc.process_batch(msgs("a", "b", "c"))
    assert sorted(m.payload for m in out) == [b"A", b"C", b"b"]
    assert after.seen == [b"a", b"c"]
    assert [m.error for m in out if m.payload == b"b"] == ["bad input"]


def test_catch_handles_only_errored_messages_and_clears_the_flag(ctx) -> None:  # type: ignore[no-untyped-def]
    seen_errors: list[str | None] = []

    def note(m: Message) -> Message:
        seen_errors.append(m.error)
        m.metadata["handled"] = True
        return m

    proc = build("processor", "catch", [Fn(note)], ctx)
    batch = [Message(b"ok"), Message(b"bad", error="it broke"), Message(b"ok2")]
    out = proc.process_batch(batch)
    assert [m.payload for m in out] == [b"ok", b"bad", b"ok2"]
    assert seen_errors == ["it broke"]
    assert all(m.error is None for m in out)
    assert out[1].metadata == {"handled": True} and out[0].metadata == {}


def test_empty_catch_just_clears_errors(ctx) -> None:  # type: ignore[no-untyped-def]
    proc = build("processor", "catch", [], ctx)
    assert proc.handles_errors
    out = ProcessorChain([proc]).process_batch([Message(b"x", error="e")])
    assert out[0].error is None


def test_catch_in_a_chain_after_a_failure(ctx) -> None:  # type: ignore[no-untyped-def]
    chain = ProcessorChain(
        [fail_on(b"b"), upper(), build("processor", "catch", [upper()], ctx), upper()]
    )
    out = chain.process_batch(msgs("a", "b"))
    assert sorted(m.payload for m in out) == [b"A", b"B"]
    assert all(m.error is None for m in out)


def test_noop_passes_messages_unchanged() -> None:
    batch = msgs("a")
    assert build("processor", "noop", {}).process_batch(batch) == batch


def test_sleep_waits_per_batch() -> None:
    proc = build("processor", "sleep", {"duration": "50ms"})
    start = time.monotonic()
    out = proc.process_batch(msgs("a", "b"))
    assert time.monotonic() - start >= 0.045
    assert [m.payload for m in out] == [b"a", b"b"]


def test_sleep_close_interrupts() -> None:
    import threading

    proc = build("processor", "sleep", {"duration": "10s"})
    threading.Timer(0.1, proc.close).start()
    start = time.monotonic()
    proc.process_batch(msgs("a"))
    assert time.monotonic() - start < 5


def test_switch_without_check_always_matches_and_fallthrough_continues(ctx) -> None:  # type: ignore[no-untyped-def]
    first, second, third = upper(), Fn(lambda m: Message(m.payload + b"!")), upper()
    conf = [
        {"check": "", "processors": [first], "fallthrough": True},
        {"check": "", "processors": [second], "fallthrough": False},
        {"check": "", "processors": [third], "fallthrough": False},
    ]
    proc = build("processor", "switch", conf, ctx)
    out = proc.process_batch(msgs("a", "b"))
    assert [m.payload for m in out] == [b"A!", b"B!"]
    assert third.seen == []


def test_branch_without_maps_runs_on_a_copy_and_leaves_the_original(ctx) -> None:  # type: ignore[no-untyped-def]
    def mutate(m: Message) -> Message:
        m.metadata["touched"] = True
        m.set_payload(b"changed")
        return m

    proc = build(
        "processor",
        "branch",
        {"request_map": "", "processors": [Fn(mutate)], "result_map": ""},
        ctx,
    )
    batch = [Message(b"orig", {"k": "v"})]
    out = proc.process_batch(batch)
    assert out[0] is batch[0]
    assert out[0].payload == b"orig" and out[0].metadata == {"k": "v"}


def test_branch_failure_flags_the_original(ctx) -> None:  # type: ignore[no-untyped-def]
    proc = build("processor", "branch", {"processors": [fail_on(b"x", "enrich failed")]}, ctx)
    out = proc.process_batch(msgs("x", "y"))
    assert [m.error for m in out] == ["enrich failed", None]
    assert [m.payload for m in out] == [b"x", b"y"]
