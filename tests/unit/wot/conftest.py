"""Thing Descriptions of tests/fixtures/td/, by file name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TD_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "td"


def td_path(name: str) -> Path:
    """A fixture TD file (`modbus-boiler` or `invalid/no-forms`)."""
    return TD_DIR / f"{name}.td.json"


def td_doc(name: str) -> dict[str, Any]:
    """A fixture TD, parsed."""
    doc: dict[str, Any] = json.loads(td_path(name).read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def td() -> Any:
    return td_doc
