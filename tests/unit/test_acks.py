"""Inputs are acknowledged only after the outputs are done with what came from each batch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ack_streams import NumberedReader, run_to_end, stream_of

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.message import Message
from streamforge.plugin import (
    Field,
    Input,
    InputReader,
    Output,
    load_builtins,
    register_input,
    register_output,
)

#: input name -> (first value of each acknowledged batch, error)
ACKS: dict[str, list[tuple[int, str | None]]] = {}
#: output name -> values written, in the order they were written
WRITES: dict[str, list[int]] = {}
#: input name -> a check run on every acknowledgement (value of the batch's first message)
ON_ACK: dict[str, Callable[[int], None]] = {}


class _AckingReader(NumberedReader):
    def message(self, n: int) -> Message:
        return Message.from_value({"n": n})

    def ack(self, batch: list[Message], error: str | None) -> None:
        first = batch[0].value["n"]
        if self.name in ON_ACK:
            ON_ACK[self.name](first)
        ACKS.setdefault(self.name, []).append((first, error))


@register_input(
    "tack_source",
    fields=[Field("name", "string"), Field("batches", "int"), Field("size", "int", default=3)],
)
class AckingInput(Input):
    """Batches of numbers; records every acknowledgement it gets."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.conf = conf

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        c = self.conf
        return _AckingReader(c["name"], c["batches"], c["size"])


@register_output("tack_sink", fields=[Field("name", "string"), Field("fail_over", "int")])
class FailingOutput(Output):
    """Writes numbers up to `fail_over`; fails the larger ones. Records acks seen at write."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.name, self.limit = conf["name"], conf["fail_over"]

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = []
        for msg in batch:
            n = msg.value["n"]
            if n > self.limit:
                failed.append(msg.fail(f"refused {n}"))
            else:
                # nothing may be acknowledged before it was written
                assert all(first > n or first + 3 <= n for first, _ in ACKS.get(self.name, []))
                WRITES.setdefault(self.name, []).append(n)
        return failed


def _stream(name: str, batches: int, fail_over: int, processors: list[ComponentConfig],
            output: ComponentConfig | None = None) -> StreamConfig:  # fmt: skip
    loc = Location(f"{name}.yaml", 1, 1)
    sink = {"name": name, "fail_over": fail_over}
    return stream_of(
        name,
        ("tack_source", {"name": name, "batches": batches, "size": 3}),
        processors,
        output or ComponentConfig("output", "tack_sink", sink, "output", loc),
    )


def test_every_batch_is_acknowledged_after_its_messages_were_written() -> None:
    run_to_end(_stream("acks_ok", batches=4, fail_over=1000, processors=[]))
    assert sorted(ACKS["acks_ok"]) == [(0, None), (3, None), (6, None), (9, None)]
    assert WRITES["acks_ok"] == list(range(12))


def test_a_batch_with_a_failed_write_is_acknowledged_with_the_error() -> None:
    run_to_end(_stream("acks_fail", batches=3, fail_over=4, processors=[]))
    assert sorted(ACKS["acks_fail"]) == [(0, None), (3, "refused 5"), (6, "refused 6")]


def test_a_batch_whose_messages_were_all_dropped_is_acknowledged() -> None:
    load_builtins()
    loc = Location("acks_drop.yaml", 3, 5)
    drop_odd_batches = ComponentConfig(
        "processor", "mapping", "root = if this.n >= 3 && this.n < 6 { deleted() }",
        "pipeline.processors.0", loc,
    )  # fmt: skip
    run_to_end(_stream("acks_drop", batches=3, fail_over=1000, processors=[drop_odd_batches]))
    assert sorted(ACKS["acks_drop"]) == [(0, None), (3, None), (6, None)]
    assert WRITES["acks_drop"] == [0, 1, 2, 6, 7, 8]


def test_batches_held_by_a_batching_policy_are_acknowledged_when_written(
    tmp_path: Path,
) -> None:
    load_builtins()
    loc = Location("acks_batching.yaml", 9, 3)
    out = ComponentConfig(
        "output", "file",
        {"path": str(tmp_path / "out.jsonl"), "codec": "lines",
         "batching": {"count": 7, "byte_size": 0, "period": "", "check": ""}},
        "output", loc,
    )  # fmt: skip
    target = tmp_path / "out.jsonl"

    def written_before_ack(first: int) -> None:
        assert len(target.read_text().splitlines()) >= first + 3

    ON_ACK["acks_batching"] = written_before_ack
    run_to_end(_stream("acks_batching", batches=4, fail_over=0, processors=[], output=out))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 12
    assert sorted(first for first, _ in ACKS["acks_batching"]) == [0, 3, 6, 9]
    assert all(err is None for _, err in ACKS["acks_batching"])


def test_batches_held_inside_a_fallback_are_acknowledged_when_written(tmp_path: Path) -> None:
    load_builtins()
    loc = Location("acks_fallback.yaml", 9, 3)
    target = tmp_path / "primary.jsonl"
    primary = ComponentConfig(
        "output", "file",
        {"path": str(target), "codec": "lines",
         "batching": {"count": 5, "byte_size": 0, "period": "", "check": ""}},
        "output.fallback.0", loc,
    )  # fmt: skip
    dead_letters = ComponentConfig(
        "output", "file", {"path": str(tmp_path / "dlq.jsonl"), "codec": "lines"},
        "output.fallback.1", loc,
    )  # fmt: skip
    out = ComponentConfig("output", "fallback", [primary, dead_letters], "output", loc)

    def written_before_ack(first: int) -> None:
        assert len(target.read_text().splitlines()) >= first + 3

    ON_ACK["acks_fallback"] = written_before_ack
    run_to_end(_stream("acks_fallback", batches=4, fail_over=0, processors=[], output=out))
    assert len(target.read_text().splitlines()) == 12
    assert sorted(first for first, _ in ACKS["acks_fallback"]) == [0, 3, 6, 9]


class _OneInFlightReader(_AckingReader):
    """Hands over the next batch only once the previous one was acknowledged (a broker's
    in-flight window of one batch)."""

    def __init__(self, name: str, batches: int, size: int) -> None:
        super().__init__(name, batches, size)
        self.waiting = False

    def read(self) -> list[Message] | None:
        if self.waiting:
            return []
        batch = super().read()
        self.waiting = bool(batch)
        return batch

    def ack(self, batch: list[Message], error: str | None) -> None:
        super().ack(batch, error)
        self.waiting = False

    def next_awake(self) -> Any:
        from datetime import datetime, timedelta, timezone

        return datetime.now(timezone.utc) + timedelta(milliseconds=2) if self.waiting else None


@register_input(
    "tack_one_in_flight",
    fields=[Field("name", "string"), Field("batches", "int"), Field("size", "int", default=3)],
)
class OneInFlightInput(AckingInput):
    """Like tack_source, but waits for each acknowledgement before reading on."""

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        c = self.conf
        return _OneInFlightReader(c["name"], c["batches"], c["size"])


def test_a_batching_period_releases_acknowledgements_an_input_waits_for(tmp_path: Path) -> None:
    load_builtins()
    loc = Location("acks_window.yaml", 2, 3)
    target = tmp_path / "out.jsonl"
    out = ComponentConfig(
        "output", "file",
        {"path": str(target), "codec": "lines",
         "batching": {"count": 100, "byte_size": 0, "period": "20ms", "check": ""}},
        "output", loc,
    )  # fmt: skip
    stream = _stream("acks_window", batches=5, fail_over=0, processors=[], output=out)
    stream.input = ComponentConfig(
        "input", "tack_one_in_flight", {"name": "acks_window", "batches": 5, "size": 3}, "input",
        loc,
    )  # fmt: skip
    run_to_end(stream)
    assert len(target.read_text().splitlines()) == 15
    assert sorted(first for first, _ in ACKS["acks_window"]) == [0, 3, 6, 9, 12]
