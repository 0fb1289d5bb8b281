"""The telemetry envelope: the `telemetry` processor, quality codes, times, series keys."""

from __future__ import annotations

from streamforge.processors.telemetry import telemetry as telemetry
