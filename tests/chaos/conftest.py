"""The crash suite: streams killed with SIGKILL at seeded points, resumed, and counted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the stream-run helpers of the integration tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from crash_table import ROWS, render
from peers.mosquitto import mosquitto  # noqa: F401 - the broker fixture
from peers.tansu import tansu  # noqa: F401 - the Kafka-compatible broker fixture


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ROWS] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    rows = config.stash.get(ROWS, [])
    if rows:
        terminalreporter.write_line("")
        for line in render(rows):
            terminalreporter.write_line(line)
