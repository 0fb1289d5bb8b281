"""The `postgres_cdc` input's metric families."""

from __future__ import annotations

from prometheus_client import Gauge

from streamforge.plugin import METRICS_REGISTRY as REGISTRY

__all__ = ["REPLICATION_LAG", "SNAPSHOT_PROGRESS"]

REPLICATION_LAG = Gauge(
    "streamforge_postgres_replication_lag_bytes",
    "WAL bytes the server wrote since the replication slot's confirmed position.",
    ("stream", "component"),
    registry=REGISTRY,
)
SNAPSHOT_PROGRESS = Gauge(
    "streamforge_postgres_snapshot_progress",
    "Share of a table's rows read by the snapshot (from the planner's row estimate), 0 to 1.",
    ("stream", "component", "table"),
    registry=REGISTRY,
)
