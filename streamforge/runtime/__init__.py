"""Running compiled dataflows: workers, cluster, recovery, metrics and HTTP endpoint."""
