"""Logging in over the API: POST /auth/token, /auth/refresh and /auth/logout.

A wrong password and an unknown username get the same answer. Names that are no user are
locked after as many failures as a user would be (in memory), so the lock does not tell either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from streamforge.manager.audit import note_actor
from streamforge.manager.auth import Identity
from streamforge.manager.identities import LOCK_AFTER, LOCK_FOR, Identities, UnknownUser
from streamforge.manager.models import utcnow
from streamforge.manager.tokens import AccessTokens, Claims

__all__ = ["TokenAnswer", "add_login_routes"]

log = logging.getLogger("streamforge.manager.login")

WRONG = "wrong username or password"
_FORM = "application/x-www-form-urlencoded"
_MAX_BODY = 16 * 1024
_MAX_PHANTOMS = 10_000


class TokenAnswer(BaseModel):
    """An access token, as OAuth2's password grant answers it."""

    access_token: str = Field(description="A JWT (EdDSA) to send as `Authorization: Bearer`")
    token_type: str = Field("bearer", description="Always `bearer`")
    expires_in: int = Field(description="Seconds the token is good for")


class _Detail(BaseModel):
    detail: str


class _Phantoms:
    """Failed sign-ins under names that are no user, locked like a user's (bounded, in memory)."""

    def __init__(self) -> None:
        self._names: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def fail(self, name: str, now: datetime) -> datetime | None:
        """Count a failure; when the name is locked, until when."""
        with self._lock:
            return self._fail(name, now)

    def _fail(self, name: str, now: datetime) -> datetime | None:
        count, until = self._names.pop(name, (0, None))
        if until is None or until <= now:
            count, until = count + 1, None
            if count >= LOCK_AFTER:
                count, until = 0, now + LOCK_FOR
        self._names[name] = (count, until)
        while len(self._names) > _MAX_PHANTOMS:
            self._names.popitem(last=False)
        return until


#: failed sign-ins from one client address within `LOCK_FOR` after which it is locked out,
#: and after which each further failure is answered more slowly
ADDRESS_LOCK_AFTER = 30
ADDRESS_SLOW_AFTER = 3
_MAX_ADDRESSES = 10_000


class _AddressThrottle:
    """Failed sign-ins per client address in a sliding window (bounded, in memory)."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, list[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: datetime) -> list[datetime]:
        times = [t for t in self._failures.pop(address, []) if t > now - LOCK_FOR]
        if times:
            self._failures[address] = times
        return times

    def locked_for(self, address: str, now: datetime) -> int | None:
        """Seconds the address is locked for, or None."""
        with self._lock:
            times = self._recent(address, now)
        if len(times) < ADDRESS_LOCK_AFTER:
            return None
        return max(1, math.ceil((times[-ADDRESS_LOCK_AFTER] + LOCK_FOR - now).total_seconds()))

    def fail(self, address: str, now: datetime) -> float:
        """Count a failure; the seconds its answer should be delayed."""
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            while len(self._failures) > _MAX_ADDRESSES:
                self._failures.popitem(last=False)
        return min(0.5, 0.05 * max(0, len(times) - ADDRESS_SLOW_AFTER))


class _Failed(Exception):
    """A refused sign-in: the answer, and how long to hold it back."""

    def __init__(self, answer: HTTPException, delay: float = 0.0) -> None:
        super().__init__(answer.detail)
        self.answer = answer
        self.delay = delay


_CREDENTIALS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
            }
        },
        _FORM: {
            "schema": {
                "type": "object",
                "required": ["grant_type", "username", "password"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["password"]},
                    "username": {"type": "string"},
                    "password": {"type": "string"},
                },
            }
        },
    },
}


def _answer(detail: str, status: int, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, detail, headers=headers)


async def _credentials(request: Request) -> tuple[str, str]:
    """Username and password from a JSON body or an OAuth2 password form (422/400 otherwise)."""
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise _answer("body: too large", 422)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, Any]
    if kind == _FORM:
        try:
            parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise _answer("body: the form could not be parsed", 422) from None
        fields = {name: values[0] for name, values in parsed.items()}
        if fields.get("grant_type") != "password":
            raise _answer("grant_type: must be password", 400)
    else:
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _answer(
                'body: give JSON {"username", "password"} or an OAuth2 password form', 422
            ) from None
        if not isinstance(fields, dict):
            raise _answer('body: give a JSON object {"username", "password"}', 422)
    username, password = fields.get("username"), fields.get("password")
    for name, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or not value:
            raise _answer(f"body.{name}: a non-empty string is needed", 422)
    return str(username), str(password)


def add_login_routes(
    app: FastAPI, identities: Identities, tokens: AccessTokens, secured: list[Any]
) -> None:
    """POST /auth/token, /auth/refresh and /auth/logout (`secured`: the bearer check)."""
    phantoms = _Phantoms()
    addresses = _AddressThrottle()

    def locked_for(username: str) -> int | None:
        """After a failed sign-in: the seconds the name is locked for, or None."""
        now = utcnow()
        try:
            until = identities.user(username).locked_until
        except UnknownUser:
            until = phantoms.fail(username, now)
        if until is None or until <= now:
            return None
        return max(1, math.ceil((until - now).total_seconds()))

    def sign_in(username: str, password: str, client: str) -> TokenAnswer:
        address_lock = addresses.locked_for(client, utcnow())
        if address_lock is not None:
            log.warning("sign-in refused for %r from %s: address locked", username, client)
            raise _answer(
                f"too many failed sign-ins from {client}: locked, try again in {address_lock} s",
                429,
                {"Retry-After": str(address_lock)},
            )
        user = identities.verify_password(username, password)
        if user is not None:
            token, expires_in = tokens.issue(user.username, user.roles)
            log.info("user %r signed in from %s", user.username, client)
            return TokenAnswer(access_token=token, token_type="bearer", expires_in=expires_in)
        delay = addresses.fail(client, utcnow())
        seconds = locked_for(username)
        if seconds is not None:
            log.warning("sign-in refused for %r from %s: locked", username, client)
            raise _Failed(
                _answer(
                    f"too many failed sign-ins: locked, try again in {seconds} s",
                    429,
                    {"Retry-After": str(seconds)},
                ),
                delay,
            )
        log.warning("sign-in failed for %r from %s", username, client)
        raise _Failed(_answer(WRONG, 401, {"WWW-Authenticate": "Bearer"}), delay)

    responses: dict[int | str, dict[str, Any]] = {
        400: {"model": _Detail, "description": "A form whose grant_type is not `password`"},
        401: {"model": _Detail, "description": "Wrong username or password (the same for both)"},
        422: {"model": _Detail, "description": "No username or password in the body"},
        429: {
            "model": _Detail,
            "description": f"Locked after {LOCK_AFTER} failed sign-ins in a row, for "
            f"{int(LOCK_FOR.total_seconds())} s (Retry-After)",
        },
    }

    @app.post("/auth/token", tags=["auth"], responses=responses,
              openapi_extra={"requestBody": _CREDENTIALS_BODY})  # fmt: skip
    async def token(request: Request) -> TokenAnswer:
        """Exchange a username and password for a short-lived access token."""
        username, password = await _credentials(request)
        client = request.client.host if request.client else "?"
        note_actor(request, username, "password")
        try:
            return await asyncio.to_thread(sign_in, username, password, client)
        except _Failed as failed:
            await asyncio.sleep(failed.delay)  # slows guessing without holding a thread
            raise failed.answer from None

    def access_token(request: Request, what: str) -> Claims:
        identity: Identity = request.state.identity
        if identity.claims is None:
            raise _answer(f"only an access token from POST /auth/token can be {what}", 400)
        return identity.claims

    not_access = {"model": _Detail, "description": "The bearer token is not an access token"}
    bad_token = {"model": _Detail, "description": "No, a wrong, expired or revoked token"}

    @app.post("/auth/refresh", dependencies=secured, tags=["auth"],
              responses={400: not_access, 401: bad_token})  # fmt: skip
    def refresh(request: Request) -> TokenAnswer:
        """A new access token for a good one, which is revoked (within 12 h of signing in)."""
        claims = access_token(request, "refreshed")
        identity: Identity = request.state.identity
        if not tokens.may_refresh(claims):
            raise _answer("signed in too long ago to refresh: sign in again", 401)
        new, expires_in = tokens.issue(identity.subject, identity.roles, claims.auth_time)
        tokens.revoke(claims)
        return TokenAnswer(access_token=new, token_type="bearer", expires_in=expires_in)

    @app.post("/auth/logout", status_code=204, dependencies=secured, tags=["auth"],
              response_class=Response, responses={400: not_access, 401: bad_token})  # fmt: skip
    def logout(request: Request) -> Response:
        """Revoke the access token: it is refused from now on."""
        tokens.revoke(access_token(request, "logged out"))
        log.info("user %r logged out", request.state.identity.subject)
        return Response(status_code=204)
