"""The alarm processor: limit rules with hysteresis and delays, lifecycle, acknowledgement."""

from __future__ import annotations

from streamforge.processors.alarm import alarm as alarm
