"""The telemetry envelope: the `telemetry` processor, quality codes, times, series keys."""

from __future__ import annotations

from streamforge.processors.telemetry.telemetry import DEFAULT_METADATA, TelemetryProcessor

__all__ = ["DEFAULT_METADATA", "TelemetryProcessor"]
