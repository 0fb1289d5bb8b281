"""The alarm processor: limit rules with hysteresis and delays, lifecycle, acknowledgement."""

from __future__ import annotations

from streamforge.processors.alarm.alarm import AlarmProcessor, SeriesState

__all__ = ["AlarmProcessor", "SeriesState"]
