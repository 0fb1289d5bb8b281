"""Keyed processors outside a dataflow, and the default key of a series."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, cluster_main

from streamforge.engine.keyed import SHARD_NAMES, SHARDS, ShardLogic, shard_of
from streamforge.message import Message
from streamforge.processors.telemetry.series import SeriesKeyedProcessor
from streamforge.processors.telemetry.series import series_key as default_key


class SumAtEnd(SeriesKeyedProcessor):
    """Absorbs values; emits one sum per series when the input ends."""

    def process_key(self, key: str, batch: list[Message], state: Any) -> tuple[list[Message], Any]:
        return [], (state or 0) + sum(m.value["value"] for m in batch)

    def on_eof(self, key: str, state: Any) -> tuple[list[Message], Any]:
        return [Message.from_value({"series": key, "sum": state})], None


def reading(asset: str, parameter: str, value: float) -> Message:
    return Message.from_value({"asset_id": asset, "parameter": parameter, "value": value})


def test_the_default_key_is_the_series_of_the_envelope_or_its_metadata() -> None:
    assert default_key(reading("press-01", "temperature", 1)) == "press-01/temperature"
    raw = Message(b"not json", {"asset_id": "oven-7", "parameter": "power"})
    assert default_key(raw) == "oven-7/power"
    assert default_key(Message(b"not json")) == ""


def test_states_are_kept_per_series_across_batches_until_the_input_ends() -> None:
    proc = SumAtEnd()
    assert proc.process_batch([reading("a", "t", 1), reading("b", "t", 10)]) == []
    assert proc.process_batch([reading("a", "t", 2)]) == []
    sums = {m.value["series"]: m.value["sum"] for m in proc.end_of_input()}
    assert sums == {"a/t": 3, "b/t": 10}
    assert proc.end_of_input() == []  # on_eof forgot them


class Tagger(SeriesKeyedProcessor):
    """Counts readings per series into `n`; emits them (and, when told, a message of its own)."""

    preserves_keys = True

    def __init__(self, invent: bool = False) -> None:
        self.invent = invent

    def process_key(self, key: str, batch: list[Message], state: Any) -> tuple[list[Message], Any]:
        n = state or 0
        for msg in batch:
            n += 1
            msg.metadata["n"] = n
        extra = [reading("ghost", "t", 0)] if self.invent else []
        return [*batch, *extra], n


def test_a_chain_hands_the_first_processors_messages_to_the_second_with_their_keys() -> None:
    first, then = Tagger(), SumAtEnd()
    logic = ShardLogic([first, then], None)
    batch = [reading("a", "t", 1), reading("b", "t", 2), reading("a", "t", 3)]
    emitted, _ = logic.on_batch([([default_key(m) for m in batch], batch, [], None)])
    assert list(emitted) == []  # all absorbed by the second
    (sums,), _ = logic.on_eof()
    assert {m.value["series"]: m.value["sum"] for m in sums} == {"a/t": 4, "b/t": 2}
    assert [m.metadata["n"] for m in batch] == [1, 1, 2]  # the first kept its own states


def test_a_chained_processor_that_invents_messages_has_them_flagged_not_misrouted() -> None:
    logic = ShardLogic([Tagger(invent=True), SumAtEnd()], None)
    batch = [reading("a", "t", 1)]
    (out,), _ = logic.on_batch([(["a/t"], batch, [], None)])
    (ghost,) = out
    assert ghost.value["asset_id"] == "ghost"
    assert ghost.error is not None and "did not receive" in ghost.error
    assert logic.snapshot()[1] == {"a/t": 1}  # the real reading reached the second


def test_keys_spread_over_every_shard_and_shards_spread_evenly_over_workers() -> None:
    keys = [f"plant-{n}/temperature" for n in range(2000)]
    per_shard = Counter(shard_of(k) for k in keys)
    assert set(per_shard) == set(SHARD_NAMES)
    assert min(per_shard.values()) > 2000 / SHARDS / 2
    for workers in (2, 4):
        loads = shards_per_worker(workers)
        assert loads == [SHARDS // workers] * workers, (workers, loads)


def shards_per_worker(workers: int) -> list[int]:
    """How many shard keys a Bytewax stateful step places on each of `workers` workers."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def record(state: None, name: str) -> tuple[None, str]:
        with lock:
            seen[name] = threading.get_ident()
        return None, name

    flow = Dataflow("shard_routing")
    names = op.input("names", flow, TestingSource(list(SHARD_NAMES)))
    placed = op.stateful_map("place", op.key_on("key", names, lambda n: n), record)
    op.inspect("done", placed, lambda *_: None)
    cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return sorted(Counter(seen.values()).values())
