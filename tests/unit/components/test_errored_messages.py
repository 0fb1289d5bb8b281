"""Which processors see messages flagged with an error, and in what order they come out."""

from __future__ import annotations

from component_helpers import Ctx, Recorder

from streamforge.engine.instantiate import OutputWithProcessors
from streamforge.message import Message
from streamforge.plugin import load_builtins
from streamforge.plugin.chain import ProcessorChain

load_builtins()
CTX = Ctx()


def procs(*confs: dict) -> list:
    return CTX.build_processors(list(confs))


def batch_with_failure() -> list[Message]:
    return [
        Message(b'{"n":1}'),
        Message(b'{"n":2}', error="upstream failed"),
        Message(b'{"n":3}'),
    ]


def test_output_processors_see_errored_messages() -> None:
    out = Recorder()
    wrapped = OutputWithProcessors(procs({"mutation": "root.why = error()"}), out)
    assert wrapped.write_batch(batch_with_failure()) == []
    assert out.payloads == [
        b'{"n":1,"why":null}',
        b'{"n":2,"why":"upstream failed"}',
        b'{"n":3,"why":null}',
    ]
    assert [m.error for m in out.messages] == [None, "upstream failed", None]


def test_pipeline_processors_skip_errored_messages_and_keep_batch_order() -> None:
    chain = ProcessorChain(procs({"mutation": "root.seen = true"}))
    out = chain.process_batch(batch_with_failure())
    assert [m.payload for m in out] == [b'{"n":1,"seen":true}', b'{"n":2}', b'{"n":3,"seen":true}']


def test_mapping_asking_errored_drops_failed_messages() -> None:
    chain = ProcessorChain(procs({"mapping": "root = if errored() { deleted() }"}))
    assert [m.payload for m in chain.process_batch(batch_with_failure())] == [
        b'{"n":1}',
        b'{"n":3}',
    ]


def test_switch_on_errored_handles_failed_messages_and_keeps_the_flag() -> None:
    switch = {"switch": [{"check": "errored()", "processors": [{"mapping": 'root = "bad"'}]}]}
    out = ProcessorChain(procs(switch)).process_batch(batch_with_failure())
    assert [m.payload for m in out] == [b'{"n":1}', b"bad", b'{"n":3}']
    assert out[1].error == "upstream failed"


def test_mapping_without_error_functions_still_skips_failed_messages() -> None:
    chain = ProcessorChain(procs({"mapping": 'root = "errored() is only text here"'}))
    out = chain.process_batch(batch_with_failure())
    assert out[1].payload == b'{"n":2}'
    assert out[0].payload == b"errored() is only text here"


def test_log_mentioning_error_logs_failed_messages(caplog) -> None:  # type: ignore[no-untyped-def]
    log = procs({"log": {"level": "INFO", "message": 'failed: "${! error() }"'}})
    with caplog.at_level("INFO", logger="streamforge.log"):
        ProcessorChain(log).process_batch(batch_with_failure())
    assert 'failed: "upstream failed"' in caplog.messages
