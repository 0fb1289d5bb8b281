"""Key pairs and hand-built tokens for the licence tests."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FEATURES", "KeyPair", "b64url", "hand_token"]

#: a licence's features as a vendor writes them
FEATURES: dict[str, Any] = {
    "bindings": ["kafka", "modbus", "opcua"],
    "processors": ["alarm", "window"],
    "security": ["basic_auth", "mtls"],
    "storage": ["parquet"],
    "capabilities": {"max_things": 100, "max_streams": 20, "multi_tenancy": True},
}


@dataclass(frozen=True)
class KeyPair:
    """A signing key pair as PEM text and as files on disk."""

    algorithm: str
    private_pem: bytes
    public_pem: bytes
    private_file: Path
    public_file: Path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled without a library, for tokens no library would sign."""
    parts = (json.dumps(header).encode(), json.dumps(payload).encode(), signature)
    return ".".join(b64url(p) for p in parts)
