"""Bearer-token access: one admin token until users and roles exist.

The token is `STREAMFORGE_ADMIN_TOKEN` when set, else generated on first start and written to
`<home>/admin-token` (mode 0600). Only its SHA-256 is stored; tokens are 256-bit random
values, so a plain hash is what protects them (a password hash adds nothing but latency).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from streamforge.manager.store import StreamStore

__all__ = ["ADMIN", "TokenCheck", "ensure_admin_token", "token_hash"]

ADMIN = "admin"
ENV_ADMIN_TOKEN = "STREAMFORGE_ADMIN_TOKEN"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_admin_token(home: Path, store: StreamStore) -> Path | None:
    """Install the admin token; returns the file a generated one was written to."""
    given = os.environ.get(ENV_ADMIN_TOKEN, "")
    if given:
        store.set_credential(ADMIN, token_hash(given))
        return None
    path = home / "admin-token"
    if store.credential(ADMIN) is not None and path.exists():
        return None
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    store.set_credential(ADMIN, token_hash(token))
    return path


class TokenCheck:
    """A FastAPI dependency: 401 unless `Authorization: Bearer <token>` is a known token."""

    def __init__(self, store: StreamStore) -> None:
        self.store = store

    def __call__(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        stored = self.store.credential(ADMIN)
        if (
            scheme.lower() == "bearer"
            and token
            and stored is not None
            and hmac.compare_digest(token_hash(token.strip()), stored)
        ):
            return ADMIN
        raise HTTPException(
            401,
            "a valid bearer token is needed (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
