"""Data quality codes of the StreamForge telemetry envelope, ordered from best to worst.

GOOD: a trusted reading. SUSPECT: read fine but a rule doubts it (range, skew, rate).
UNCERTAIN: the source itself is not sure (OPC UA Uncertain*, no device timestamp, device busy).
BAD: no usable value (OPC UA Bad*, a Modbus exception, a timeout).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["QUALITIES", "Quality", "is_quality", "worst"]

Quality = Literal["GOOD", "SUSPECT", "UNCERTAIN", "BAD"]

#: best first; a later code is worse than an earlier one
QUALITIES: tuple[Quality, ...] = ("GOOD", "SUSPECT", "UNCERTAIN", "BAD")
_RANK = {q: i for i, q in enumerate(QUALITIES)}


def is_quality(value: object) -> bool:
    """True when `value` is one of the four quality codes."""
    return isinstance(value, str) and value in _RANK


def worst(*codes: Quality) -> Quality:
    """The worst of the given codes (GOOD when none are given)."""
    result: Quality = "GOOD"
    for code in codes:
        if _RANK[code] > _RANK[result]:
            result = code
    return result
