"""A mapping's stateful functions hand over their state, so a resumed input continues them."""

from __future__ import annotations

import pickle

import pytest

from streamforge.bloblang import parse

MAPPING = 'root = {"a": counter(), "b": counter(min: 10), "r": random_int(seed: 3, max: 99)}'


def test_counters_and_seeded_random_numbers_continue_after_a_resume() -> None:
    first = parse(MAPPING)
    before = [first.query(None) for _ in range(4)]
    state = pickle.loads(pickle.dumps(first.resume_state()))  # as a recovery snapshot keeps it
    after_uninterrupted = [first.query(None) for _ in range(3)]

    resumed = parse(MAPPING)
    resumed.resume(state)
    assert [resumed.query(None) for _ in range(3)] == after_uninterrupted
    assert [d["a"] for d in before + after_uninterrupted] == list(range(1, 8))
    assert [d["b"] for d in after_uninterrupted] == [14, 15, 16]


def test_a_mapping_without_stateful_functions_has_nothing_to_resume() -> None:
    exe = parse("root = this.uppercase()")
    assert exe.resume_state() == []
    exe.resume([])


def test_a_resume_state_of_another_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="resume state for 3 stateful function"):
        parse("root = counter()").resume(parse(MAPPING).resume_state())
