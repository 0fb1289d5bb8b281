"""The windows of a shard's keys: event-time watermarks, fixed windows and sessions.

The arithmetic of Bytewax's windowing, per key: an event-time watermark of the latest event time
minus the allowed lateness, advancing with system time since that event was seen (Bytewax's
`EventClock`), or system time itself; fixed windows close once the watermark reaches their end,
sessions once it is a gap past their last reading; a reading older than the watermark is late.
A key's state is plain lists and dicts, so it pickles with recovery snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from streamforge.plugin.windows import WindowSpec
from streamforge.processors.window.aggregates import Acc, merge_into, new_acc

__all__ = ["Closed", "MemoryWindows"]

#: a closed window: (start us, end us, accumulator)
Closed = tuple[int, int, Acc]

#: a key's state: [watermark base us or None, system us of the latest event,
#:                 open windows {id: acc} or sessions {id: [open us, close us, acc]}, next id,
#:                 end (us) of the earliest open fixed window or None]
State = list[Any]

BASE, SEEN_AT, OPEN, NEXT_ID, EARLIEST_END = 0, 1, 2, 3, 4


class MemoryWindows:
    """One processor's windows over its keys' states (the states are passed in, never kept)."""

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
        return [None, now_us, {}, 0, None]

    def watermark(self, state: State, now_us: int) -> int | None:
        """The key's watermark at system time `now_us` (None before any event)."""
        if not self.event_time:
            return now_us
        base = state[BASE]
        return None if base is None else base + max(now_us - state[SEEN_AT], 0)

    def feed(
        self,
        states: dict[str, State],
        keys: Iterable[str],
        items: list[tuple[Any, ...]],
        now_us: int,
    ) -> tuple[list[tuple[str, Closed]], list[tuple[Any, ...]]]:
        """Fold items (ns in slot 1) into their keys' windows: (closed windows, late items)."""
        late: list[tuple[Any, ...]] = []
        touched: dict[str, int] = {}
        event_time = self.event_time
        lateness = self.spec.lateness_us
        session = self.spec.type == "session"
        fold = self.fold
        align, size, slide = self.spec.align_us, self.spec.size_us, self.spec.slide_us
        tumbling = not session and size == slide
        for key, item in zip(keys, items):
            state = states.get(key)
            if state is None:
                state = states[key] = [None, now_us, {}, 0, None]
            if event_time:
                ts = item[1] // 1000
                base = state[BASE]
                candidate = ts - lateness
                if base is None:
                    state[BASE], state[SEEN_AT], watermark = candidate, now_us, candidate
                else:
                    waited = now_us - state[SEEN_AT]
                    watermark = base + waited if waited > 0 else base
                    if candidate > watermark:
                        state[BASE], state[SEEN_AT], watermark = candidate, now_us, candidate
                if ts < watermark:
                    late.append(item)
                    continue
            else:
                ts = watermark = now_us
            touched[key] = watermark
            if session:
                self._into_session(state, ts, item)
                continue
            windows = state[OPEN]
            since = ts - align
            if tumbling:
                wid = since // size
                acc = windows.get(wid)
                if acc is None:
                    acc = windows[wid] = new_acc()
                    end = align + wid * size + size
                    if state[EARLIEST_END] is None or end < state[EARLIEST_END]:
                        state[EARLIEST_END] = end
                fold(acc, item)
                continue
            for wid in range((since - size) // slide + 1, since // slide + 1):
                acc = windows.get(wid)
                if acc is None:
                    acc = windows[wid] = new_acc()
                    end = align + wid * slide + size
                    if state[EARLIEST_END] is None or end < state[EARLIEST_END]:
                        state[EARLIEST_END] = end
                fold(acc, item)
        closed: list[tuple[str, Closed]] = []
        for key, watermark in touched.items():
            state = states[key]
            if session or (state[EARLIEST_END] is not None and state[EARLIEST_END] <= watermark):
                closed.extend((key, c) for c in self.close(state, watermark))
        return closed, late

    def close(self, state: State, watermark: int | None) -> list[Closed]:
        """Remove and return the windows the watermark has passed, earliest first."""
        if watermark is None:
            return []
        closed: list[Closed] = []
        opened = state[OPEN]
        if self.spec.type == "session":
            due = watermark - self.spec.gap_us
            for sid in [s for s, (_o, c, _a) in opened.items() if c < due]:
                start, end, acc = opened.pop(sid)
                closed.append((start, end, acc))
        else:
            for wid in [w for w in opened if self.spec.bounds(w)[1] <= watermark]:
                start, end = self.spec.bounds(wid)
                closed.append((start, end, opened.pop(wid)))
            state[EARLIEST_END] = min((self.spec.bounds(w)[1] for w in opened), default=None)
        closed.sort(key=lambda c: c[0])
        return closed

    def close_all(self, state: State | None) -> list[Closed]:
        """Every open window (the input ended)."""
        if state is None:
            return []
        return self.close(state, 2**62)

    def due_at(self, state: State | None) -> int | None:
        """System time (us) at which the key's next window closes; None when none is open."""
        if state is None or not state[OPEN]:
            return None
        if self.spec.type == "session":
            due = min(c for _o, c, _a in state[OPEN].values()) + self.spec.gap_us + 1
        else:
            due = state[EARLIEST_END]
            if due is None:
                return None
        if not self.event_time:
            return int(due)
        base = state[BASE]
        return None if base is None else int(state[SEEN_AT] + (due - base))

    def earliest_due(self, keys: Iterable[str], states: dict[str, State]) -> int | None:
        """The earliest `due_at` of these keys (one pass, no call per key for fixed windows)."""
        if self.spec.type == "session":
            dues = [d for d in (self.due_at(states.get(k)) for k in keys) if d is not None]
            return min(dues) if dues else None
        best: int | None = None
        event_time = self.event_time
        for key in keys:
            state = states.get(key)
            if state is None or state[EARLIEST_END] is None:
                continue
            if event_time:
                if state[BASE] is None:
                    continue
                due = state[SEEN_AT] + state[EARLIEST_END] - state[BASE]
            else:
                due = state[EARLIEST_END]
            if best is None or due < best:
                best = due
        return best

    # -- sessions ------------------------------------------------------------------------

    def _into_session(self, state: State, ts: int, item: tuple[Any, ...]) -> None:
        sessions: dict[int, list[Any]] = state[OPEN]
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
            target = state[NEXT_ID]
            state[NEXT_ID] += 1
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
