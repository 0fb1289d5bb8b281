"""Keeping a batch in its original order when a subset of it was processed separately."""

from __future__ import annotations

from operator import itemgetter

from streamforge.message import Message

__all__ = ["Keyed", "key_results", "in_order"]

#: a message with the position (in the original batch) it sorts by
Keyed = tuple[float, Message]

_first = itemgetter(0)


def key_results(inputs: list[Keyed], outputs: list[Message]) -> list[Keyed]:
    """Positions for the messages a processor returned for `inputs`.

    Messages returned as they were keep their own position; a one-to-one result takes
    the positions of the inputs in order; otherwise the group sits at its first input.
    """
    if not inputs:
        return [(0.0, m) for m in outputs]
    by_id = {id(m): key for key, m in inputs}
    if all(id(m) in by_id for m in outputs):
        return [(by_id[id(m)], m) for m in outputs]
    if len(outputs) == len(inputs):
        return [(key, m) for (key, _), m in zip(inputs, outputs)]
    first = min(key for key, _ in inputs)
    return [(first, m) for m in outputs]


def in_order(pairs: list[Keyed]) -> list[Message]:
    """The messages sorted by position (stable: ties keep their order)."""
    pairs.sort(key=_first)
    return [m for _, m in pairs]
