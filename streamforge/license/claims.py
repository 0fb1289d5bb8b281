"""What a StreamForge licence says: its subject, customer and the features it grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["CATEGORIES", "CAPABILITIES", "Features", "License", "LicenseError"]

#: feature categories a licence lists, as the policies name them
CATEGORIES = ("bindings", "processors", "security", "storage")

#: capabilities a licence may set, with the type each must have
CAPABILITIES: dict[str, type] = {
    "max_things": int,
    "max_streams": int,
    "max_users": int,
    "multi_tenancy": bool,
    "audit_logging": bool,
}


class LicenseError(ValueError):
    """A licence cannot be used; the text says why (expired, bad signature, wrong issuer...)."""


@dataclass(frozen=True)
class Features:
    """The `features` claim: names per category, plus capabilities (limits and switches)."""

    bindings: frozenset[str] = frozenset()
    processors: frozenset[str] = frozenset()
    security: frozenset[str] = frozenset()
    storage: frozenset[str] = frozenset()
    capabilities: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_claim(cls, raw: Any) -> Features:
        """Read the claim; raises LicenceError naming the first field of the wrong shape."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise LicenseError(f"features: expected an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - {*CATEGORIES, "capabilities"})
        if unknown:
            raise LicenseError(f"features: unknown field(s) {', '.join(unknown)}")
        names: dict[str, frozenset[str]] = {}
        for category in CATEGORIES:
            value = raw.get(category) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LicenseError(f"features.{category}: expected a list of names")
            names[category] = frozenset(value)
        caps = raw.get("capabilities") or {}
        if not isinstance(caps, Mapping):
            raise LicenseError("features.capabilities: expected an object")
        for name, value in caps.items():
            want = CAPABILITIES.get(name)
            if want is None:
                raise LicenseError(
                    f"features.capabilities.{name}: unknown (known: {', '.join(CAPABILITIES)})"
                )
            if type(value) is not want:
                raise LicenseError(
                    f"features.capabilities.{name}: expected {want.__name__}, "
                    f"got {type(value).__name__}"
                )
        return cls(capabilities=dict(caps), **names)

    def to_claim(self) -> dict[str, Any]:
        """The claim as it is signed and as the policies see it (sorted lists)."""
        claim: dict[str, Any] = {c: sorted(getattr(self, c)) for c in CATEGORIES}
        claim["capabilities"] = dict(self.capabilities)
        return claim


@dataclass(frozen=True)
class License:
    """A verified licence."""

    subject: str
    issuer: str
    features: Features
    customer: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    not_before: datetime | None = None
    issued_at: datetime | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    def to_policy_input(self) -> dict[str, Any]:
        """The licence as the policies read it under `input.license`."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "customer": dict(self.customer),
            "features": self.features.to_claim(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }
