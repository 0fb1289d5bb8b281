"""Windows kept in memory, outside a dataflow (`process_batch`, `streamforge test`).

The same arithmetic as Bytewax's windowing, per key: an event-time watermark of the latest
event time minus the allowed lateness, advancing with system time since that event was seen
(Bytewax's `EventClock`), or system time itself; fixed windows close once the watermark reaches
their end, sessions once it is a gap past their last reading; a reading older than the
watermark is late. The state is plain lists and dicts so it pickles like the dataflow's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.processors._window_aggregates import (
    FIRST_NS,
    LAST_NS,
    Acc,
    merge_into,
    new_acc,
)
from streamforge.processors._window_spec import WindowSpec

__all__ = ["Closed", "MemoryWindows", "session_bounds"]

#: a closed window: (start us, end us, accumulator)
Closed = tuple[int, int, Acc]

#: the per-key state: [watermark base us or None, system us of the latest event,
#:                     open windows {id: acc} or sessions {id: [open us, close us, acc]}, next id]
State = list[Any]


class MemoryWindows:
    """One processor's windows over a key's state (the state is passed in, never kept)."""

    def __init__(
        self,
        spec: WindowSpec,
        fold: Callable[[Acc, tuple[Any, ...]], Acc],
        event_time: bool,
    ) -> None:
        self.spec = spec
        self.fold = fold
        self.event_time = event_time

    @staticmethod
    def new_state(now_us: int) -> State:
        """A key's state before its first reading."""
        return [None, now_us, {}, 0]

    def watermark(self, state: State, now_us: int) -> int | None:
        """The key's watermark at system time `now_us` (None before any event)."""
        if not self.event_time:
            return now_us
        base = state[0]
        return None if base is None else base + max(now_us - state[1], 0)

    def feed(
        self, state: State | None, items: list[tuple[Any, ...]], now_us: int
    ) -> tuple[list[Closed], list[tuple[Any, ...]], State]:
        """Fold items (ns in slot 1) into their windows: (closed windows, late items, state)."""
        if state is None:
            state = self.new_state(now_us)
        late: list[tuple[Any, ...]] = []
        lateness = self.spec.lateness_us
        session = self.spec.type == "session"
        watermark = self.watermark(state, now_us)
        for item in items:
            ts = item[1] // 1000 if self.event_time else now_us
            if self.event_time:
                candidate = ts - lateness
                if watermark is None or candidate > watermark:
                    state[0], state[1], watermark = candidate, now_us, candidate
            if watermark is not None and ts < watermark:
                late.append(item)
                continue
            if session:
                self._into_session(state, ts, item)
            else:
                windows = state[2]
                for wid in self.spec.window_ids(ts):
                    acc = windows.get(wid)
                    if acc is None:
                        acc = windows[wid] = new_acc()
                    self.fold(acc, item)
        return self.close(state, watermark), late, state

    def close(self, state: State, watermark: int | None) -> list[Closed]:
        """Remove and return the windows the watermark has passed, earliest first."""
        if watermark is None:
            return []
        closed: list[Closed] = []
        opened = state[2]
        if self.spec.type == "session":
            due = watermark - self.spec.gap_us
            for sid in [s for s, (_o, c, _a) in opened.items() if c < due]:
                start, end, acc = opened.pop(sid)
                closed.append((start, end, acc))
        else:
            for wid in [w for w in opened if self.spec.bounds(w)[1] <= watermark]:
                start, end = self.spec.bounds(wid)
                closed.append((start, end, opened.pop(wid)))
        closed.sort(key=lambda c: c[0])
        return closed

    def close_all(self, state: State | None) -> list[Closed]:
        """Every open window (the input ended)."""
        if state is None:
            return []
        return self.close(state, 2**62)

    def due_at(self, state: State | None) -> int | None:
        """System time (us) at which the next window closes; None when none is open."""
        if state is None or not state[2]:
            return None
        if self.spec.type == "session":
            due = min(c for _o, c, _a in state[2].values()) + self.spec.gap_us + 1
        else:
            due = min(self.spec.bounds(w)[1] for w in state[2])
        if not self.event_time:
            return int(due)
        base = state[0]
        return None if base is None else int(state[1] + (due - base))

    # -- sessions ------------------------------------------------------------------------

    def _into_session(self, state: State, ts: int, item: tuple[Any, ...]) -> None:
        sessions: dict[int, list[Any]] = state[2]
        gap = self.spec.gap_us
        target = None
        for sid, session in sessions.items():
            if session[0] <= ts <= session[1]:
                target = sid
                break
            if 0 < session[0] - ts <= gap:
                session[0] = ts
                target = sid
                break
            if 0 < ts - session[1] <= gap:
                session[1] = ts
                target = sid
                break
        if target is None:
            target = state[3]
            state[3] += 1
            sessions[target] = [ts, ts, new_acc()]
        else:
            target = self._merge_sessions(sessions, target)
        self.fold(sessions[target][2], item)

    def _merge_sessions(self, sessions: dict[int, list[Any]], touched: int) -> int:
        """Merge sessions within a gap of each other; returns where `touched` ended up."""
        gap = self.spec.gap_us
        ordered = sorted(sessions.items(), key=lambda kv: kv[1][0])
        last_id, last = ordered[0]
        for sid, session in ordered[1:]:
            if session[0] - last[1] <= gap:
                last[1] = max(last[1], session[1])
                merge_into(last[2], session[2])
                del sessions[sid]
                if sid == touched:
                    touched = last_id
            else:
                last_id, last = sid, session
        return touched


def session_bounds(acc: Acc) -> tuple[int, int]:
    """A session's start and end: its first and last reading's times (us)."""
    return acc[FIRST_NS] // 1000, acc[LAST_NS] // 1000
