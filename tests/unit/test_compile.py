"""Compiling stream configs into one Bytewax dataflow and running it in-process."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.run import cli_main
from bytewax.testing import run_main

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import CompileError, compile_streams
from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import (
    Field,
    Input,
    InputReader,
    Output,
    Processor,
    register_input,
    register_output,
    register_processor,
)
from streamforge.plugin.keyed import KeyedProcessor

# -- test-only components -------------------------------------------------------------------

#: sink name -> every batch written to it, and the outputs built for it
WRITTEN: dict[str, list[list[Message]]] = {}
OUTPUTS_BUILT: dict[str, int] = {}
CLOSED: set[str] = set()


class _SeqReader(InputReader):
    def __init__(self, part: str, count: int, batch: int, start: int) -> None:
        self.part, self.count, self.batch, self.pos = part, count, batch, start

    def read(self) -> list[Message] | None:
        if self.pos >= self.count:
            return None
        end = min(self.pos + self.batch, self.count)
        out = [
            Message.from_value({"part": self.part, "n": n}, {"part": self.part})
            for n in range(self.pos, end)
        ]
        self.pos = end
        return out

    def snapshot(self) -> int:
        return self.pos


@register_input(
    "tcomp_seq",
    fields=[
        Field("count", "int", default=10),
        Field("partitions", "int", default=1),
        Field("batch", "int", default=4),
    ],
)
class SeqInput(Input):
    """Numbers 0..count-1 in every partition."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.conf = conf

    def partitions(self) -> list[str]:
        return [f"p{i}" for i in range(self.conf["partitions"])]

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _SeqReader(partition, self.conf["count"], self.conf["batch"], resume_state or 0)


#: (batch size, error) of every acknowledgement tcomp_acked_seq received
ACKS: list[tuple[int, str | None]] = []


class _AckedReader(_SeqReader):
    """Keys messages by n % 3 (metadata `key`) and records acknowledgements."""

    def read(self) -> list[Message] | None:
        batch = super().read()
        for m in batch or []:
            m.metadata["key"] = f"k{m.value['n'] % 3}"
        return batch

    def ack(self, batch: list[Message], error: str | None) -> None:
        ACKS.append((len(batch), error))


@register_input("tcomp_acked_seq", fields=[Field("count", "int", default=10)])
class AckedSeqInput(Input):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.count = conf["count"]

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _AckedReader("p0", self.count, 6, 0)


@register_processor("tcomp_tag", fields=[Field("tag", "string")])
class Tag(Processor):
    """Appends its tag to the value's `trail`."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.tag = conf["tag"]

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for m in batch:
            value = dict(m.value)
            value["trail"] = value.get("trail", "") + self.tag
            m.set_value(value)
        return batch


#: stream name -> how many times a tcomp_count_builds processor was constructed
PROCESSORS_BUILT: dict[str, int] = {}


@register_processor("tcomp_count_builds", fields=[Field("name", "string")])
class CountBuilds(Processor):
    """Counts its own constructions; passes messages on."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        PROCESSORS_BUILT[conf["name"]] = PROCESSORS_BUILT.get(conf["name"], 0) + 1

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return batch


@register_processor("tcomp_fail_odd")
class FailOdd(Processor):
    """Flags messages with an odd `n`."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for m in batch:
            if m.value["n"] % 2:
                m.fail(f"odd number {m.value['n']}")
        return batch


@register_processor("tcomp_raise")
class Raise(Processor):
    """A buggy processor: raises on every batch."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        raise RuntimeError("boom")


@register_processor("tcomp_drop_all")
class DropAll(Processor):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return []


@register_processor("tcomp_stateful")
class NotKeyed(Processor):
    stateful = True

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return batch


#: worker thread ids that processed each key of tcomp_running_count
KEY_THREADS: dict[str, set[int]] = {}


@register_processor("tcomp_running_count")
class RunningCount(KeyedProcessor):
    """Per partition: each message gets `seen`, how many of its partition came so far."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def key(self, msg: Message) -> str:
        return str(msg.metadata.get("key") or msg.metadata["part"])

    def process_key(self, key: str, batch: list[Message], state: Any) -> tuple[list[Message], Any]:
        KEY_THREADS.setdefault(key, set()).add(threading.get_ident())
        seen = state or 0
        for msg in batch:
            seen += 1
            msg.set_value({**msg.value, "seen": seen})
        return batch, seen


@register_processor("tcomp_total_at_eof")
class TotalAtEof(KeyedProcessor):
    """Absorbs every message; at the end of the input emits one total per partition."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def key(self, msg: Message) -> str:
        return str(msg.metadata["part"])

    def process_key(self, key: str, batch: list[Message], state: Any) -> tuple[list[Message], Any]:
        return [], (state or 0) + sum(m.value["n"] for m in batch)

    def on_eof(self, key: str, state: Any) -> tuple[list[Message], Any]:
        return [Message.from_value({"part": key, "total": state})], state


@register_processor("tcomp_broken", fields=[Field("reason", "string", default="bad")])
def broken(conf: dict[str, Any], ctx: Any) -> Processor:
    raise ValueError(f"cannot build: {conf['reason']}")


@register_output("tcomp_collect", fields=[Field("name", "string")])
class Collect(Output):
    """Keeps every written batch in WRITTEN[name]."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.name = conf["name"]
        self.lock = threading.Lock()
        with self.lock:
            OUTPUTS_BUILT[self.name] = OUTPUTS_BUILT.get(self.name, 0) + 1
            WRITTEN.setdefault(self.name, [])

    def write_batch(self, batch: list[Message]) -> list[Message]:
        with self.lock:
            WRITTEN[self.name].append(list(batch))
        return []

    def close(self) -> None:
        CLOSED.add(self.name)


@register_output("tcomp_reject_odd")
class RejectOdd(Output):
    """Fails to write messages with an odd `n`."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def write_batch(self, batch: list[Message]) -> list[Message]:
        return [m.fail("odd rejected") for m in batch if m.value["n"] % 2]


@register_output("tcomp_raising")
class RaisingOutput(Output):
    """A buggy output: raises on every write."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def write_batch(self, batch: list[Message]) -> list[Message]:
        raise OSError("disk on fire")


# -- helpers --------------------------------------------------------------------------------

LOC = Location("test.yaml", 1, 1)


def comp(kind: Any, type_: str, conf: Any, path: str, **kw: Any) -> ComponentConfig:
    return ComponentConfig(kind, type_, conf, path, LOC, **kw)


def stream(
    name: str,
    *,
    count: int = 10,
    partitions: int = 1,
    batch: int = 4,
    processors: list[ComponentConfig] | None = None,
    input_processors: list[ComponentConfig] | None = None,
    output: ComponentConfig | None = None,
) -> StreamConfig:
    return StreamConfig(
        name=name,
        path=Path(f"{name}.yaml"),
        input=comp(
            "input",
            "tcomp_seq",
            {"count": count, "partitions": partitions, "batch": batch},
            "input",
            processors=input_processors or [],
        ),
        processors=processors or [],
        output=output or comp("output", "tcomp_collect", {"name": name}, "output"),
    )


def tag(tag: str, path: str, label: str | None = None) -> ComponentConfig:
    return comp("processor", "tcomp_tag", {"tag": tag}, path, label=label)


def messages(name: str) -> list[Message]:
    return [m for b in WRITTEN.get(name, []) for m in b]


def metric(name: str, stream: str, component: str) -> float:
    value = REGISTRY.get_sample_value(name, {"stream": stream, "component": component})
    return value or 0.0


# -- tests ----------------------------------------------------------------------------------


def test_processors_fuse_into_one_step_per_stream() -> None:
    s = stream(
        "fused",
        input_processors=[tag("i", "input.processors.0")],
        processors=[tag("a", "pipeline.processors.0"), tag("b", "pipeline.processors.1")],
    )
    compiled = compile_streams([s])
    assert compiled.streams[0].step_ids == [
        "streamforge.fused.input",
        "streamforge.fused.processors",
        "streamforge.fused.output",
    ]
    run_main(compiled.flow)
    compiled.close()
    out = messages("fused")
    assert sorted(m.value["n"] for m in out) == list(range(10))
    # input-level processors run first, then the pipeline in order
    assert {m.value["trail"] for m in out} == {"iab"}
    # the output sees whole batches, not single messages
    assert max(len(b) for b in WRITTEN["fused"]) == 4


def test_two_streams_run_in_one_dataflow() -> None:
    a = stream("multi_a", count=5, processors=[tag("A", "pipeline.processors.0")])
    b = stream("multi_b", count=7, processors=[tag("B", "pipeline.processors.0")])
    compiled = compile_streams([a, b])
    steps = [sid for s in compiled.streams for sid in s.step_ids]
    assert len(set(steps)) == 6
    run_main(compiled.flow)
    compiled.close()
    assert sorted(m.value["n"] for m in messages("multi_a")) == list(range(5))
    assert sorted(m.value["n"] for m in messages("multi_b")) == list(range(7))
    assert {m.value["trail"] for m in messages("multi_a")} == {"A"}
    assert {m.value["trail"] for m in messages("multi_b")} == {"B"}


def test_failed_messages_are_counted_logged_once_and_flow_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = stream(
        "failing",
        count=20,
        processors=[
            comp("processor", "tcomp_fail_odd", {}, "pipeline.processors.0", label="odd_check"),
            tag("t", "pipeline.processors.1"),
        ],
    )
    compiled = compile_streams([s])
    with caplog.at_level(logging.ERROR, logger="streamforge.pipeline"):
        run_main(compiled.flow)
        compiled.close()
    out = messages("failing")
    assert len(out) == 20
    failed = [m for m in out if m.error]
    assert sorted(m.value["n"] for m in failed) == list(range(1, 20, 2))
    # errored messages skip later processors; healthy ones get through them
    assert all("trail" not in m.value for m in failed)
    assert all(m.value["trail"] == "t" for m in out if not m.error)
    assert metric("streamforge_errors_total", "failing", "odd_check") == 10
    assert metric("streamforge_received_total", "failing", "odd_check") == 20
    assert metric("streamforge_errors_total", "failing", "pipeline.processors.1") == 0
    # rate-limited: a first line with a sample, the rest summed into the closing line
    lines = [r for r in caplog.records if r.name == "streamforge.pipeline"]
    assert 1 <= len(lines) <= 2
    assert sum(r.fields["count"] for r in lines) == 10  # type: ignore[attr-defined]
    assert "odd number" in lines[0].fields["error"]  # type: ignore[attr-defined]


def test_raising_processor_flags_messages_without_stopping_the_flow() -> None:
    s = stream("raising", count=6, processors=[comp("processor", "tcomp_raise", {}, "p0")])
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    out = messages("raising")
    assert len(out) == 6
    assert all(m.error and "boom" in m.error for m in out)
    assert metric("streamforge_errors_total", "raising", "p0") == 6


def test_empty_batches_never_reach_the_output() -> None:
    s = stream("dropping", processors=[comp("processor", "tcomp_drop_all", {}, "p0")])
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    assert WRITTEN["dropping"] == []
    assert metric("streamforge_received_total", "dropping", "p0") == 10
    assert metric("streamforge_sent_total", "dropping", "p0") == 0


def test_output_failures_are_counted() -> None:
    s = stream("rejecting", count=8, output=comp("output", "tcomp_reject_odd", {}, "output"))
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    assert metric("streamforge_sent_total", "rejecting", "output") == 4
    assert metric("streamforge_errors_total", "rejecting", "output") == 4


def test_raising_output_fails_its_batches_and_the_flow_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = stream("raising_out", count=9, output=comp("output", "tcomp_raising", {}, "out"))
    compiled = compile_streams([s])
    with caplog.at_level(logging.ERROR, logger="streamforge.output"):
        run_main(compiled.flow)
        compiled.close()
    assert metric("streamforge_errors_total", "raising_out", "out") == 9
    assert metric("streamforge_sent_total", "raising_out", "out") == 0
    assert any("disk on fire" in r.fields["error"] for r in caplog.records)  # type: ignore[attr-defined]


def test_stateful_processor_must_be_keyed() -> None:
    s = stream("stateful", processors=[comp("processor", "tcomp_stateful", {}, "p0")])
    with pytest.raises(CompileError) as err:
        compile_streams([s])
    assert err.value.problems == [
        "test.yaml:1:1: processor 'tcomp_stateful' (p0) says it is stateful but is not a "
        "KeyedProcessor"
    ]


def test_keyed_state_is_kept_per_key_on_one_worker_between_stateless_stages() -> None:
    KEY_THREADS.clear()
    procs = [
        tag("before", "pipeline.processors.0"),
        comp("processor", "tcomp_running_count", {}, "pipeline.processors.1"),
        tag("after", "pipeline.processors.2"),
    ]
    s = stream("keyed", count=40, partitions=4, batch=3, processors=procs)
    compiled = compile_streams([s])
    cli_main(compiled.flow, workers_per_process=2)
    compiled.close()
    out = messages("keyed")
    assert len(out) == 160
    for part in (f"p{i}" for i in range(4)):
        mine = [m for m in out if m.value["part"] == part]
        assert sorted(m.value["seen"] for m in mine) == list(range(1, 41))
        # the state followed the input order of its partition
        assert sorted((m.value["n"], m.value["seen"]) for m in mine) == [
            (n, n + 1) for n in range(40)
        ]
    assert all(len(threads) == 1 for threads in KEY_THREADS.values())
    assert all(m.value["trail"] == "beforeafter" for m in out)
    assert metric("streamforge_received_total", "keyed", "pipeline.processors.1") == 160


def test_keyed_processor_emits_what_it_holds_when_the_input_ends() -> None:
    procs = [comp("processor", "tcomp_total_at_eof", {}, "pipeline.processors.0")]
    s = stream("eof", count=10, partitions=2, processors=procs)
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    totals = {m.value["part"]: m.value["total"] for m in messages("eof")}
    assert totals == {"p0": 45, "p1": 45}


@pytest.mark.parametrize("processor", ["tcomp_running_count", "tcomp_total_at_eof"])
def test_a_batch_split_by_key_is_acknowledged_once_when_every_part_is_done(
    processor: str,
) -> None:
    ACKS.clear()
    s = StreamConfig(
        name=f"acks_{processor}",
        path=Path("acks.yaml"),
        input=comp("input", "tcomp_acked_seq", {"count": 30}, "input"),
        processors=[comp("processor", processor, {}, "pipeline.processors.0")],
        output=comp("output", "tcomp_collect", {"name": f"acks_{processor}"}, "output"),
    )
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    assert ACKS == [(6, None)] * 5


def test_keyed_state_survives_a_restart_with_recovery(tmp_path: Path) -> None:
    from bytewax.recovery import RecoveryConfig, init_db_dir

    init_db_dir(tmp_path, 1)
    procs = [comp("processor", "tcomp_running_count", {}, "pipeline.processors.0")]
    for count in (20, 50):
        s = stream("recovered", count=count, batch=5, processors=procs)
        compiled = compile_streams([s])
        run_main(
            compiled.flow,
            epoch_interval=timedelta(0),
            recovery_config=RecoveryConfig(str(tmp_path)),
        )
        compiled.close()
    out = messages("recovered")
    assert [(m.value["n"], m.value["seen"]) for m in out] == [(n, n + 1) for n in range(50)]


def test_errored_messages_pass_a_keyed_processor_untouched() -> None:
    procs = [
        comp("processor", "tcomp_fail_odd", {}, "pipeline.processors.0"),
        comp("processor", "tcomp_running_count", {}, "pipeline.processors.1"),
    ]
    s = stream("keyed_errors", count=10, processors=procs)
    compiled = compile_streams([s])
    run_main(compiled.flow)
    compiled.close()
    out = messages("keyed_errors")
    assert sorted(m.value["n"] for m in out) == list(range(10))
    assert all("seen" not in m.value for m in out if m.error is not None)
    assert sorted(m.value["seen"] for m in out if m.error is None) == [1, 2, 3, 4, 5]


def test_build_failures_of_every_stream_are_reported() -> None:
    a = stream("bad_a", processors=[comp("processor", "tcomp_broken", {"reason": "x"}, "p0")])
    b = stream("bad_b", processors=[comp("processor", "tcomp_broken", {"reason": "y"}, "p0")])
    with pytest.raises(CompileError) as err:
        compile_streams([a, b])
    assert len(err.value.problems) == 2
    assert "cannot build: x" in err.value.problems[0]
    assert "cannot build: y" in err.value.problems[1]


def test_partitions_spread_over_workers_each_with_its_own_output() -> None:
    s = stream("workers", count=50, partitions=4, processors=[tag("w", "pipeline.processors.0")])
    compiled = compile_streams([s])
    cli_main(compiled.flow, workers_per_process=2)
    compiled.close()
    out = messages("workers")
    keys = sorted((m.value["part"], m.value["n"]) for m in out)
    assert keys == sorted((f"p{p}", n) for p in range(4) for n in range(50))
    assert OUTPUTS_BUILT["workers"] == 2


def test_each_worker_builds_its_processors_once_for_the_whole_run() -> None:
    counter = comp("processor", "tcomp_count_builds", {"name": "reuse"}, "pipeline.processors.0")
    s = stream("reuse", count=400, partitions=4, batch=5, processors=[counter])
    compiled = compile_streams([s])
    cli_main(compiled.flow, workers_per_process=2)
    compiled.close()
    assert len(messages("reuse")) == 1600
    assert PROCESSORS_BUILT["reuse"] <= 2  # one per worker (the first reuses the compile-time one)


def test_stop_event_ends_endless_inputs_and_outputs_still_close() -> None:
    stop = threading.Event()
    s = stream("stopping", count=10**12, batch=100)
    compiled = compile_streams([s], stop=stop)
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    run_main(compiled.flow)
    compiled.close()
    assert len(messages("stopping")) > 0
    assert "stopping" in CLOSED
