"""Stream configs and licence files for the gating, watch and status tests."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from license_helpers import KeyPair

from streamforge.license.token import issue_token

__all__ = ["write", "write_license"]


def write(path: Path, text: str) -> Path:
    """Write dedented text (a config, a policy) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def write_license(
    pair: KeyPair,
    path: Path,
    features: dict[str, Any],
    *,
    subject: str = "acme-001",
    expires: datetime = datetime(2099, 1, 31, tzinfo=timezone.utc),
) -> Path:
    """A signed licence file."""
    token = issue_token(
        pair.private_pem,
        subject=subject,
        features=features,
        expires=expires,
        customer={"name": "ACME Corp", "contact": "ops@acme.test"},
    )
    path.write_text(token + "\n")
    return path
