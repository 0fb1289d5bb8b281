"""The rows of the crash suite's table, kept on the pytest config and printed at the end."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Row:
    path: str
    kills: int
    records: int
    missing: int
    duplicates: int
    guarantee: str


ROWS = pytest.StashKey[list[Row]]()


def render(rows: list[Row]) -> list[str]:
    """The table, a line per path."""
    lines = [
        "crash suite (kill -9 at seeded points, resumed with the same --recovery-dir):",
        f"{'path':<26}{'kills':>6}{'records':>9}{'missing':>9}{'duplicates':>12}  guarantee",
    ]
    lines += [
        f"{r.path:<26}{r.kills:>6}{r.records:>9}{r.missing:>9}{r.duplicates:>12}  {r.guarantee}"
        for r in rows
    ]
    return lines
