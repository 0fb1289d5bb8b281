"""Short-lived access tokens: JWTs signed with EdDSA (Ed25519), the key kept in the home.

A token names its user (`sub`), their roles, when it was issued and expires, its id (`jti`)
and when its user last gave a password (`auth_time`, which bounds refreshing). Logging out
revokes a token's id in the database until the token would have expired anyway.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete
from sqlalchemy.orm import sessionmaker

from streamforge.manager.models import RevokedTokenRow, utcnow

__all__ = ["ACCESS_TTL", "REFRESH_WITHIN", "AccessTokens", "Claims", "InvalidToken"]

#: how long an access token is good for
ACCESS_TTL = timedelta(minutes=15)
#: how long after giving a password a user may keep refreshing without giving it again
REFRESH_WITHIN = timedelta(hours=12)
_ALGORITHM = "EdDSA"


class InvalidToken(Exception):
    """A token that is not good: malformed, badly signed, expired or revoked (one line)."""


@dataclass(frozen=True)
class Claims:
    """What a verified access token says."""

    subject: str
    roles: tuple[str, ...]
    token_id: str
    issued_at: datetime
    expires_at: datetime
    auth_time: datetime


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`; a new one is written there (mode 0600) when there is none."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), timezone.utc)


class AccessTokens:
    """Issues, verifies and revokes access tokens; the key is `key_file` (made on first use)."""

    def __init__(
        self,
        key_file: Path,
        engine: Engine,
        ttl: timedelta = ACCESS_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._key = _load_or_create_key(key_file)
        self._public = self._key.public_key()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.ttl = ttl
        self._clock = clock

    def issue(
        self, username: str, roles: Sequence[str], auth_time: datetime | None = None
    ) -> tuple[str, int]:
        """A new token for `username` and the seconds it is good for."""
        now = self._clock()
        issued = int(now.timestamp())
        expires_in = int(self.ttl.total_seconds())
        claims = {
            "sub": username,
            "roles": list(roles),
            "iat": issued,
            "exp": issued + expires_in,
            "jti": secrets.token_urlsafe(16),
            "auth_time": int((auth_time or now).timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires_in

    def verify(self, token: str) -> Claims:
        """The claims of a good token; InvalidToken otherwise."""
        try:
            raw = jwt.decode(
                token,
                self._public,
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "iat", "exp", "jti"]},
            )
            roles = raw.get("roles", [])
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise InvalidToken("the access token's roles are malformed")
            claims = Claims(
                subject=str(raw["sub"]),
                roles=tuple(roles),
                token_id=str(raw["jti"]),
                issued_at=_time(raw["iat"]),
                expires_at=_time(raw["exp"]),
                auth_time=_time(raw.get("auth_time", raw["iat"])),
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired; sign in again") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, OSError):
            raise InvalidToken("the access token is not valid") from None
        with self._sessions() as session:
            if session.get(RevokedTokenRow, claims.token_id) is not None:
                raise InvalidToken("the access token was revoked (logged out); sign in again")
        return claims

    def revoke(self, claims: Claims) -> None:
        """Refuse this token from now on; revocations past their token's expiry are dropped."""
        now = self._clock()
        with self._sessions.begin() as session:
            session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < now))
            if session.get(RevokedTokenRow, claims.token_id) is None:
                session.add(RevokedTokenRow(jti=claims.token_id, expires_at=claims.expires_at))

    def may_refresh(self, claims: Claims) -> bool:
        """Whether the token's user gave their password recently enough to refresh it."""
        return self._clock() - claims.auth_time <= REFRESH_WITHIN
