"""Keyed processors outside a dataflow, and the default key of a series."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.stateful import KeyedProcessor, default_key


class SumAtEnd(KeyedProcessor):
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
