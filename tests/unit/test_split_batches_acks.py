"""A processor that splits a batch (`split`, `group_by_value`) or merges it (`archive`): each
input batch is acknowledged once, after every message that came from it was written."""

from __future__ import annotations

from typing import Any

from ack_streams import NumberedReader, run_to_end, stream_of

from streamforge.config.model import ComponentConfig, Location
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

#: stream name -> (size of each acknowledged batch, error, messages written when acknowledged)
ACKS: dict[str, list[tuple[int, str | None, int]]] = {}
#: stream name -> the batches handed to the output's write_batch
WRITES: dict[str, list[list[bytes]]] = {}


class _Reader(NumberedReader):
    def message(self, n: int) -> Message:
        return Message(str(n), {"group": str(n % 2)})

    def ack(self, batch: list[Message], error: str | None) -> None:
        written = sum(len(b) for b in WRITES.get(self.name, []))
        ACKS.setdefault(self.name, []).append((len(batch), error, written))


@register_input(
    "tsplit_source",
    fields=[Field("name", "string"), Field("batches", "int"), Field("size", "int")],
)
class _Source(Input):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.conf = conf

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _Reader(self.conf["name"], self.conf["batches"], self.conf["size"])


@register_output("tsplit_sink", fields=[Field("name", "string"), Field("refuse", "string")])
class _Sink(Output):
    """Records what it writes; refuses messages whose payload is `refuse`."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.name, self.refuse = conf["name"], conf["refuse"].encode()

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = [m.fail("refused") for m in batch if m.payload == self.refuse]
        WRITES.setdefault(self.name, []).append([m.payload for m in batch if m.error is None])
        return failed


def _run(name: str, processors: list[tuple[str, Any]], refuse: str = "-") -> None:
    load_builtins()
    loc = Location(f"{name}.yaml", 1, 1)
    procs = [
        ComponentConfig("processor", t, c, f"pipeline.processors.{i}", loc)
        for i, (t, c) in enumerate(processors)
    ]
    sink = ComponentConfig("output", "tsplit_sink", {"name": name, "refuse": refuse}, "o", loc)
    run_to_end(
        stream_of(name, ("tsplit_source", {"name": name, "batches": 2, "size": 5}), procs, sink)
    )


def test_a_split_batch_is_acknowledged_once_after_all_its_parts_were_written() -> None:
    _run("split_ok", [("split", {"size": 2, "byte_size": 0})])
    written = [p for batch in WRITES["split_ok"] for p in batch]
    assert sorted(written, key=int) == [str(n).encode() for n in range(10)]
    assert [(size, error) for size, error, _ in ACKS["split_ok"]] == [(5, None), (5, None)]
    # the first input batch was acknowledged only once its five messages were written
    assert ACKS["split_ok"][0][2] >= 5


def test_a_failed_part_acknowledges_the_input_batch_with_the_error() -> None:
    _run("split_fail", [("split", {"size": 2, "byte_size": 0})], refuse="7")
    assert [(size, error) for size, error, _ in ACKS["split_fail"]] == [
        (5, None),
        (5, "refused"),
    ]


def test_groups_archived_per_input_batch_are_acknowledged_once() -> None:
    _run(
        "grouped",
        [
            ("group_by_value", {"value": '${! meta("group") }'}),
            ("archive", {"format": "lines", "path": ""}),
        ],
    )
    written = sorted(p for batch in WRITES["grouped"] for p in batch)
    assert written == [b"0\n2\n4", b"1\n3", b"5\n7\n9", b"6\n8"]
    assert [(size, error) for size, error, _ in ACKS["grouped"]] == [(5, None), (5, None)]
