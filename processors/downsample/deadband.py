"""Deadband compression of one series: keep a reading that leaves the band around the last kept one.

State (plain, picklable): `(kept_time_ns, kept_value, quality, held)` where `held` is the last
reading seen and not kept, as `(message, time_ns, value)`, emitted when the input ends.
"""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.processors.downsample.reading import Point, Value, same_value

__all__ = ["Deadband", "DeadbandState"]

Held = tuple[Message, int, Value]
DeadbandState = tuple[int, Value, Any, Held | None]


class Deadband:
    """Keeps a reading when it differs from the last kept value by more than the band."""

    def __init__(self, absolute: float | None, percent: float | None, max_interval_ns: int) -> None:
        self.absolute = absolute if absolute is not None else 0.0
        self.ratio = percent / 100.0 if percent is not None else None
        self.max_interval = max_interval_ns

    def feed(
        self, points: list[Point], state: DeadbandState | None
    ) -> tuple[list[Message], int, DeadbandState | None]:
        """One series' readings in order: (kept messages, how many were dropped, new state)."""
        out: list[Message] = []
        dropped = 0
        if not points:
            return out, dropped, state
        if state is None:
            msg, kept_t, kept_v, kept_q = points[0]
            out.append(msg)
            held: Held | None = None
            points = points[1:]
        else:
            kept_t, kept_v, kept_q, held = state
        absolute, ratio, max_interval = self.absolute, self.ratio, self.max_interval
        for msg, t, v, q in points:
            if held is not None:
                dropped += 1
                held = None
            if q != kept_q:
                keep = True
            elif type(v) is float and type(kept_v) is float:
                band = absolute if ratio is None else abs(kept_v) * ratio
                keep = abs(v - kept_v) > band
            else:
                keep = not same_value(v, kept_v)
            if keep or (max_interval and t - kept_t >= max_interval):
                out.append(msg)
                kept_t, kept_v, kept_q = t, v, q
            else:
                held = (msg, t, v)
        return out, dropped, (kept_t, kept_v, kept_q, held)

    @staticmethod
    def flush(state: DeadbandState | None) -> tuple[list[Message], DeadbandState | None]:
        """The input ended: the last reading, when it was held back, is kept."""
        if state is None or state[3] is None:
            return [], state
        msg, t, v = state[3]
        return [msg], (t, v, state[2], None)
