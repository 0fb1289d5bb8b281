"""Licences and a counting engine wrapper for the policy tests."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from streamforge.license.claims import Features, License
from streamforge.license.policy import PolicyEngine

__all__ = ["CountingEngine", "license"]


def license(subject: str = "acme-001", **features: Any) -> License:
    """A verified licence granting `features` (the claim's shape: bindings=[...], ...)."""
    return License(
        subject=subject,
        issuer="streamforge-licensing",
        features=Features.from_claim(features),
        customer={"name": "ACME Corp"},
        expires_at=datetime(2099, 1, 31, tzinfo=timezone.utc),
    )


class CountingEngine:
    """A real PolicyEngine that counts the queries that reach it."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def query(self, query: str, input: Mapping[str, Any]) -> Any:
        with self._lock:
            self.counts[query] += 1
        return self.engine.query(query, input)

    def describe(self) -> str:
        return self.engine.describe()

    @property
    def total(self) -> int:
        return sum(self.counts.values())
