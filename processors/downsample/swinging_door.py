"""Swinging-door compression of one series, as the OSIsoft PI archive does it.

From the last archived point (the start), every later point allows a range of slopes: the
lines through the start that pass within ±deviation of it. The doors are the narrowest range
over the points held back so far. A new point may end the segment while the line from the
start to it stays between the doors (every dropped point is then within ±deviation of the
straight line); otherwise the doors have closed and the point before it is archived and
becomes the new start. The archived point is only known once the next one arrives, so the
output is one point behind.

State (plain, picklable): `(start_time_ns, start_value, quality, held, low, high)`; `held` is
the last point seen and not yet archived, `(message, time_ns, value)`; `low`/`high` are the
door slopes in value per nanosecond.
"""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.processors.downsample.reading import Point, Value, same_value

__all__ = ["SwingingDoor", "SwingingDoorState"]

Held = tuple[Message, int, Value]
SwingingDoorState = tuple[int, Value, Any, Held | None, float, float]


class SwingingDoor:
    """Keeps the points needed for the kept series, interpolated, to stay within ±deviation."""

    def __init__(self, deviation: float, max_interval_ns: int) -> None:
        self.deviation = deviation
        self.max_interval = max_interval_ns

    def feed(
        self, points: list[Point], state: SwingingDoorState | None
    ) -> tuple[list[Message], int, SwingingDoorState | None]:
        """One series' points in order: (archived messages, how many were dropped, new state)."""
        out: list[Message] = []
        dropped = 0
        if not points:
            return out, dropped, state
        if state is None:
            msg, start_t, start_v, start_q = points[0]
            out.append(msg)
            held: Held | None = None
            low = high = 0.0
            points = points[1:]
        else:
            start_t, start_v, start_q, held, low, high = state
        dev, max_interval = self.deviation, self.max_interval
        for msg, t, v, q in points:
            if q != start_q or type(v) is not float or type(start_v) is not float:
                # quality change, a value that cannot be interpolated, or back to numbers
                if q == start_q and same_value(v, start_v):
                    if held is not None:
                        dropped += 1
                    if max_interval and t - start_t >= max_interval:
                        out.append(msg)
                        start_t, start_v, held = t, v, None
                    else:
                        held = (msg, t, v)
                    continue
                if held is not None:
                    if type(held[2]) is float:
                        out.append(held[0])  # the end of the interpolated segment
                    else:
                        dropped += 1  # the same value as the start: nothing to show
                out.append(msg)
                start_t, start_v, start_q, held = t, v, q, None
                continue
            if held is not None:
                held_t = held[1]
                if t <= held_t:  # not after the point before it: no line can carry it
                    out.append(held[0])
                    out.append(msg)
                    start_t, start_v, held = t, v, None
                    continue
                span = t - start_t
                slope = (v - start_v) / span
                if low <= slope <= high:  # the doors are open: the held point is dropped
                    dropped += 1
                    if max_interval and span >= max_interval:
                        out.append(msg)
                        start_t, start_v, held = t, v, None
                        continue
                    low = max(low, (v - dev - start_v) / span)
                    high = min(high, (v + dev - start_v) / span)
                    held = (msg, t, v)
                    continue
                out.append(held[0])  # the doors closed: archive the point before
                start_t, start_v = held_t, held[2]
                held = None
            span = t - start_t
            if span <= 0 or (max_interval and span >= max_interval):
                out.append(msg)
                start_t, start_v = t, v
                continue
            low = (v - dev - start_v) / span
            high = (v + dev - start_v) / span
            held = (msg, t, v)
        return out, dropped, (start_t, start_v, start_q, held, low, high)

    @staticmethod
    def flush(state: SwingingDoorState | None) -> tuple[list[Message], SwingingDoorState | None]:
        """The input ended: the held point is archived, so the series' end is not lost."""
        if state is None or state[3] is None:
            return [], state
        msg, t, v = state[3]
        return [msg], (t, v, state[2], None, 0.0, 0.0)
