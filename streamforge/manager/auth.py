"""Bearer-token access: the admin token, a user's access token or an API key.

The admin token is `STREAMFORGE_ADMIN_TOKEN` when set, else generated on first start and written
to `<home>/admin-token` (mode 0600). Only its SHA-256 is stored; tokens are 256-bit random
values, so a plain hash is what protects them (a password hash adds nothing but latency).
Who a request comes from is left in `request.state.identity`; what it may do is decided by
`streamforge.manager.access`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from streamforge.manager.identities import KEY_PREFIX, Identities, IdentityError
from streamforge.manager.store import StreamStore
from streamforge.manager.tokens import AccessTokens, Claims, InvalidToken

__all__ = [
    "ADMIN",
    "Identity",
    "TokenCheck",
    "ensure_admin_token",
    "ensure_first_admin",
    "token_hash",
    "unauthorized",
]

ADMIN = "admin"
ENV_ADMIN_TOKEN = "STREAMFORGE_ADMIN_TOKEN"
ENV_ADMIN_PASSWORD = "STREAMFORGE_ADMIN_PASSWORD"


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
    _write_secret(path, token)
    store.set_credential(ADMIN, token_hash(token))
    return path


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)


def ensure_first_admin(home: Path, identities: Identities) -> Path | None:
    """When there are no users yet, add `admin` (role admin): its password is
    `STREAMFORGE_ADMIN_PASSWORD` when set, else generated and written to `<home>/admin-password`
    (mode 0600), which is returned."""
    if identities.users():
        return None
    given = os.environ.get(ENV_ADMIN_PASSWORD, "")
    password = given or secrets.token_urlsafe(18)
    identities.add_user(ADMIN, password, [ADMIN])
    if given:
        return None
    path = home / "admin-password"
    _write_secret(path, password)
    return path


@dataclass(frozen=True)
class Identity:
    """Who a request comes from, and how they proved it."""

    subject: str
    """`admin` for the admin token, else the username"""
    roles: tuple[str, ...]
    via: str
    """`admin-token`, `access-token` or `api-key`"""
    scopes: tuple[str, ...] = ()
    key_id: str | None = None
    claims: Claims | None = None


ADMIN_IDENTITY = Identity(ADMIN, (ADMIN,), "admin-token")
_NEEDED = "a valid bearer token is needed (Authorization: Bearer <token>)"


def unauthorized(detail: str = _NEEDED) -> HTTPException:
    """The 401 answer, with the header that names the scheme."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


class TokenCheck:
    """A FastAPI dependency: 401 unless `Authorization: Bearer <token>` is the admin token,
    a good access token or an API key in force; the identity goes to `request.state`."""

    def __init__(
        self,
        store: StreamStore,
        identities: Identities | None = None,
        tokens: AccessTokens | None = None,
    ) -> None:
        self.store = store
        self.identities = identities
        self.tokens = tokens

    def __call__(self, request: Request) -> Identity:
        identity = self.identify(request.headers.get("authorization", ""))
        request.state.identity = identity
        return identity

    def identify(self, header: str) -> Identity:
        """The identity an Authorization header proves; the 401 HTTPException otherwise."""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        stored = self.store.credential(ADMIN)
        if stored is not None and hmac.compare_digest(token_hash(token), stored):
            return ADMIN_IDENTITY
        if self.identities is not None and token.startswith(KEY_PREFIX):
            found = self.identities.verify_key(token)
            if found is not None:
                user, key = found
                return Identity(
                    user.username, user.roles, "api-key", scopes=user.scopes, key_id=key.id
                )
        elif self.tokens is not None and self.identities is not None and token.count(".") == 2:
            try:
                claims = self.tokens.verify(token)
            except InvalidToken as exc:
                raise unauthorized(str(exc)) from None
            try:
                user = self.identities.user(claims.subject)
            except IdentityError:
                raise unauthorized("the access token's user no longer exists") from None
            if user.disabled:
                raise unauthorized("the access token's user is disabled")
            return Identity(
                user.username, user.roles, "access-token", scopes=user.scopes, claims=claims
            )
        raise unauthorized()
