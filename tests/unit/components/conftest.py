"""Fixtures for component tests."""

from __future__ import annotations

import pytest
from component_helpers import Ctx

from streamforge.plugin import load_builtins


@pytest.fixture(scope="session", autouse=True)
def _builtins() -> None:
    load_builtins()


@pytest.fixture
def ctx() -> Ctx:
    return Ctx()
