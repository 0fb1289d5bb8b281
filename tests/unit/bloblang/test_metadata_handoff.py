"""A mapping's output metadata: its own copy when the mapping touches it, else handed on."""

from __future__ import annotations

from streamforge.bloblang import parse
from streamforge.message import Message


def test_a_mapping_that_writes_metadata_leaves_the_input_message_alone() -> None:
    original = Message(b'{"a":1}', {"site": "hamburg"})
    [out] = parse('meta site = "bremen"\nroot.a = this.a').map_batch([original])
    assert out.metadata == {"site": "bremen"}
    assert original.metadata == {"site": "hamburg"}


def test_reading_metadata_sees_what_the_mapping_wrote_and_not_the_input() -> None:
    original = Message(b"{}", {"n": "1"})
    [out] = parse('meta n = "2"\nroot.n = @n').map_batch([original])
    assert out.value == {"n": "2"} and original.metadata == {"n": "1"}


def test_a_mapping_without_metadata_keeps_every_key() -> None:
    batch = [Message(b'{"a":%d}' % i, {"path": "/data/x.jsonl", "i": i}) for i in range(3)]
    out = parse("root.b = this.a * 2").map_batch(batch)
    assert [m.metadata for m in out] == [{"path": "/data/x.jsonl", "i": i} for i in range(3)]
    assert [m.value for m in out] == [{"b": 0}, {"b": 2}, {"b": 4}]
    out[0].metadata["changed"] = True  # each result still has a dict of its own
    assert "changed" not in out[1].metadata
