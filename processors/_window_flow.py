"""The `window` processor as Bytewax steps: prepare readings, `fold_window`, results and lates.

parts (key, messages) -> prepare -> readings --> fold_window --> down: one aggregate message
                                 \\                         \\-> late: counted, dropped or
                                  \\-> passing messages         passed on flagged
                                       (unselected, failed, pass_through)
all three merge back into (key, messages) parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream
from bytewax.operators.windowing import (
    EventClock,
    SystemClock,
    _EventClockLogic,
    _EventClockState,
    fold_window,
)

from streamforge.message import Message
from streamforge.processors._window_aggregates import Acc, merge_into, new_acc
from streamforge.processors._window_spec import WindowSpec

__all__ = ["WakingEventClock", "WindowSteps", "window_steps"]


class WindowSteps(Protocol):
    """What the steps need of the `window` processor."""

    spec: WindowSpec
    event_time: bool
    folder: Callable[[Acc, tuple[Any, ...]], Acc]

    def prepare_part(self, keyed: tuple[str, list[Message]]) -> list[Any]: ...

    def emit_window(self, keyed: tuple[str, tuple[int, Acc]]) -> tuple[str, list[Message]]: ...

    def emit_late(
        self, keyed: tuple[str, tuple[int, tuple[Any, ...]]]
    ) -> tuple[str, list[Message]] | None: ...


class _WakingEventClockLogic(_EventClockLogic[Any]):
    """Bytewax's event clock, waking when its watermark reaches a time rather than at it.

    The watermark runs with system time from the latest event, so a window over past or
    skewed event times closes `end - watermark` of system time from now; waking at the event
    time itself (the stock mapping) would poll in a loop until then.
    """

    def to_system_utc(self, timestamp: datetime) -> datetime | None:
        state = self.state
        try:
            return state.system_time_of_max_event + (timestamp - state.watermark_base)
        except OverflowError:
            return None


@dataclass
class WakingEventClock(EventClock[Any]):
    """`EventClock` whose windows close on time for any event time (see the logic above).

    On resume the watermark continues from the snapshot's: the time the process was down does
    not advance it, so readings that waited in a broker meanwhile are not late.
    """

    def build(self, resume_state: _EventClockState | None) -> _EventClockLogic[Any]:
        if resume_state is None:
            return _WakingEventClockLogic(
                self.now_getter, self.ts_getter, self.to_system_utc, self.wait_for_system_duration
            )
        resumed = replace(resume_state, system_time_of_max_event=self.now_getter())
        return _WakingEventClockLogic(
            self.now_getter,
            self.ts_getter,
            self.to_system_utc,
            self.wait_for_system_duration,
            resumed,
        )


def _item_time(item: tuple[Any, ...]) -> datetime:
    return item[0]  # type: ignore[no-any-return]


def _is_reading(keyed: tuple[str, Any]) -> bool:
    return type(keyed[1]) is tuple


def clock_for(proc: WindowSteps) -> Any:
    """Event time with the allowed lateness as the wait, or system time."""
    if not proc.event_time:
        return SystemClock()
    return WakingEventClock(
        ts_getter=_item_time,
        wait_for_system_duration=timedelta(microseconds=proc.spec.lateness_us),
    )


@operator
def window_steps(
    step_id: str,
    up: KeyedStream[tuple[str, list[Message]]],
    proc: WindowSteps,
) -> Stream[tuple[str, list[Message]]]:
    """Keyed parts in, keyed parts out: aggregates of closed windows, lates, passing messages."""
    prepared = op.flat_map_value("prepare", up, proc.prepare_part)
    split = op.branch("split", prepared, _is_reading)
    windows = fold_window(
        "window",
        split.trues,  # type: ignore[arg-type]
        clock_for(proc),
        proc.spec.windower(),
        new_acc,
        proc.folder,
        merge_into,
        ordered=False,
    )
    emit: Callable[[tuple[str, tuple[int, Any]]], tuple[str, list[Message]]] = proc.emit_window
    aggregates = op.map("aggregates", windows.down, emit)
    late = op.filter_map("late", windows.late, proc.emit_late)
    return op.merge("merge", split.falses, aggregates, late)
