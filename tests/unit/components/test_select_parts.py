"""`select_parts`: which messages of a batch stay, in the shapes Benthos' docs use."""

from __future__ import annotations

from pathlib import Path

from batch_helpers import chain_of, messages, payloads


def test_first_and_last_of_a_batch(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- select_parts:\n    parts: [ 0, -1 ]\n")
    assert payloads(chain.process_batch(messages("a", "b", "c", "d"))) == [b"a", b"d"]


def test_order_repeats_and_out_of_range(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- select_parts:\n    parts: [ 2, 0, 2, 9, -9 ]\n")
    out = chain.process_batch(messages("a", "b", "c"))
    assert payloads(out) == [b"c", b"a", b"c"]
    assert out[0] is not out[2]  # a part listed twice is two messages


def test_no_parts_keeps_the_batch(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- select_parts: {}\n")
    assert payloads(chain.process_batch(messages("a", "b"))) == [b"a", b"b"]
