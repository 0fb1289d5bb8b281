"""The `modbus` input's metric families, registered with the input (pymodbus loads later)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from streamforge.plugin import METRICS_REGISTRY as REGISTRY

__all__ = ["POLL_SECONDS", "READ_FAILURES", "REQUESTS"]

_LABELS = ("stream", "component", "device")
REQUESTS = Counter(
    "streamforge_modbus_requests",
    "Read requests sent to a Modbus device.",
    _LABELS,
    registry=REGISTRY,
)
READ_FAILURES = Counter(
    "streamforge_modbus_read_failures",
    "Tag readings that failed (exception response, timeout, device unreachable, decoding).",
    (*_LABELS, "tag"),
    registry=REGISTRY,
)
POLL_SECONDS = Histogram(
    "streamforge_modbus_poll_seconds",
    "Time one poll of a Modbus device took.",
    _LABELS,
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
