"""Who may sign in: users with argon2 password hashes, and API keys for machines.

Passwords are hashed with argon2id (a hash made with weaker parameters is rehashed when its
password is next verified). API keys are 256-bit random secrets shown once; only their SHA-256
is kept, which is what protects a high-entropy secret (a password hash adds only latency).
Every method commits before it returns.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from streamforge.manager.models import ApiKeyRow, UserRow, utcnow

__all__ = [
    "KEY_PREFIX",
    "LOCK_AFTER",
    "LOCK_FOR",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "ApiKey",
    "DuplicateUser",
    "Identities",
    "IdentityError",
    "UnknownKey",
    "UnknownUser",
    "User",
    "WeakPassword",
    "check_password",
    "check_username",
    "check_roles",
    "check_scopes",
    "key_hash",
]

log = logging.getLogger("streamforge.manager.identities")

#: the product's roles, least to most privileged
ROLES = ("viewer", "operator", "engineer", "admin")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
#: failed sign-ins in a row after which a user is locked, and for how long
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
#: every API key starts with this, so a leaked one is recognisable (and scannable)
KEY_PREFIX = "sfk_"
_KEY_DISPLAY = len(KEY_PREFIX) + 8
#: last_used is written at most this often per key, not on every request
_LAST_USED_STEP = timedelta(seconds=60)
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class IdentityError(ValueError):
    """A request about users or keys that cannot be done; the message is one line."""


class UnknownUser(IdentityError):
    """No user has this name."""


class DuplicateUser(IdentityError):
    """A user with this name exists already."""


class WeakPassword(IdentityError):
    """The password is empty, too short, too long or the username."""


class UnknownKey(IdentityError):
    """No API key has this id."""


@dataclass(frozen=True)
class User:
    """A user as shown: never the password hash."""

    id: str
    username: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key as shown: its prefix, never the secret or its hash."""

    id: str
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        """`active`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        tuple(row.roles or ()),
        tuple(row.scopes or ()),
        bool(row.disabled),
        _aware(row.locked_until),
        _aware(row.created_at),  # type: ignore[arg-type]
        _aware(row.updated_at),  # type: ignore[arg-type]
    )


def _key(row: ApiKeyRow, username: str) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        username,
        row.prefix,
        _aware(row.created_at),  # type: ignore[arg-type]
        _aware(row.expires_at),
        _aware(row.last_used_at),
        _aware(row.revoked_at),
    )


def key_hash(secret: str) -> str:
    """The SHA-256 an API key is stored and looked up by."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_roles(roles: Iterable[str], known: Iterable[str] = ROLES) -> tuple[str, ...]:
    """The roles, in order and without repeats; one not in `known` is an IdentityError."""
    names = list(known)
    chosen: list[str] = []
    for role in roles:
        if role not in names:
            raise IdentityError(f"unknown role {role!r}: one of {', '.join(names)}")
        if role not in chosen:
            chosen.append(role)
    if not chosen:
        raise IdentityError(f"a user needs a role: one of {', '.join(names)}")
    return tuple(chosen)


_SCOPE = re.compile(r"(?:[a-z][a-z0-9_-]{0,63}@)?(?:tag:)?[A-Za-z0-9._:/*?\[\]-]{1,256}")


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes as given (`<id pattern>`, `tag:<tag>`, either after `<role>@`), without repeats;
    IdentityError naming one that is not of that form."""
    chosen: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise IdentityError(
                f"scope {scope!r}: an id pattern (line-2.*), tag:<tag>, or either after "
                "<role>@ (engineer@line-2.*)"
            )
        if scope not in chosen:
            chosen.append(scope)
    return tuple(chosen)


def check_username(username: str) -> None:
    """Raise IdentityError unless `username` is 1-64 plain characters."""
    if not _USERNAME.fullmatch(username):
        raise IdentityError(
            f"invalid username {username!r}: 1-64 of A-Z a-z 0-9 . _ @ -, "
            "starting with a letter or digit"
        )


def check_password(username: str, password: str) -> None:
    """Raise WeakPassword unless `password` is long enough and not the username."""
    if not password.strip():
        raise WeakPassword("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")
    if password.casefold() == username.casefold():
        raise WeakPassword("the password may not be the username")


class Identities:
    """Users and API keys in the manager's database."""

    def __init__(
        self,
        engine: Engine,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._dummy_hash: str | None = None

    # -- users ------------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        password: str,
        roles: Sequence[str],
        scopes: Sequence[str] = (),
        known_roles: Iterable[str] = ROLES,
    ) -> User:
        """Create a user; DuplicateUser when the name is taken."""
        check_username(username)
        chosen = check_roles(roles, known_roles)
        scopes = check_scopes(scopes)
        check_password(username, password)
        now = self._clock()
        row = UserRow(
            id=secrets.token_hex(8),
            username=username,
            password_hash=self._hasher.hash(password),
            roles=list(chosen),
            scopes=list(scopes),
            disabled=False,
            failed_logins=0,
            locked_until=None,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._sessions.begin() as session:
                if self._find_user(session, username) is not None:
                    raise DuplicateUser(f"user {username!r} exists already")
                session.add(row)
        except IntegrityError:
            raise DuplicateUser(f"user {username!r} exists already") from None
        return _user(row)

    def users(self) -> list[User]:
        """Every user, by username."""
        with self._sessions() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [_user(row) for row in rows]

    def user(self, username: str) -> User:
        """One user; UnknownUser when there is none of that name."""
        with self._sessions() as session:
            return _user(self._user_row(session, username))

    def set_password(self, username: str, password: str) -> None:
        """Change a user's password; it also lifts a lock from failed sign-ins."""
        check_password(username, password)
        with self._sessions.begin() as session:
            row = self._user_row(session, username)
            row.password_hash = self._hasher.hash(password)
            row.failed_logins = 0
            row.locked_until = None
            row.updated_at = self._clock()

    def update_user(
        self,
        username: str,
        *,
        roles: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        disabled: bool | None = None,
        known_roles: Iterable[str] = ROLES,
    ) -> User:
        """Change a user's roles, scopes or whether they are disabled (None keeps it)."""
        with self._sessions.begin() as session:
            row = self._user_row(session, username)
            if roles is not None:
                row.roles = list(check_roles(roles, known_roles))
            if scopes is not None:
                row.scopes = list(check_scopes(scopes))
            if disabled is not None:
                row.disabled = disabled
            row.updated_at = self._clock()
            return _user(row)

    def remove_user(self, username: str) -> None:
        """Delete a user and every API key they own."""
        with self._sessions.begin() as session:
            row = self._user_row(session, username)
            session.execute(delete(ApiKeyRow).where(ApiKeyRow.user_id == row.id))
            session.delete(row)

    def verify_password(self, username: str, password: str) -> User | None:
        """The user when `password` is theirs and they may sign in, else None.

        An unknown user costs a hash verification too, so timing does not tell which names
        exist. `LOCK_AFTER` failures in a row lock the user for `LOCK_FOR`.
        """
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._find_user(session, username)
            if row is None:
                self._verify(self._dummy(), password)
                return None
            locked_until = _aware(row.locked_until)
            if locked_until is not None and locked_until > now:
                self._verify(self._dummy(), password)
                return None
            if not self._verify(row.password_hash, password):
                row.failed_logins = (row.failed_logins or 0) + 1
                if row.failed_logins >= LOCK_AFTER:
                    row.locked_until = now + LOCK_FOR
                    row.failed_logins = 0
                    log.warning(
                        "user %r locked until %s after %d failed sign-ins",
                        username,
                        row.locked_until.isoformat(timespec="seconds"),
                        LOCK_AFTER,
                    )
                return None
            row.failed_logins = 0
            row.locked_until = None
            if self._hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
            if row.disabled:
                return None
            return _user(row)

    # -- API keys ---------------------------------------------------------------------------
    def create_key(
        self, username: str, name: str, expires_in: timedelta | None
    ) -> tuple[ApiKey, str]:
        """A new key for `username`: what is stored about it, and the secret (shown once)."""
        name = name.strip()
        if not name or len(name) > 128:
            raise IdentityError("a key needs a name of 1-128 characters")
        if expires_in is not None and expires_in <= timedelta(0):
            raise IdentityError("a key's expiry must lie in the future")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._sessions.begin() as session:
            owner = self._user_row(session, username)
            row = ApiKeyRow(
                id=secrets.token_hex(6),
                name=name,
                user_id=owner.id,
                key_sha256=key_hash(secret),
                prefix=secret[:_KEY_DISPLAY],
                created_at=now,
                expires_at=None if expires_in is None else now + expires_in,
                last_used_at=None,
                revoked_at=None,
            )
            session.add(row)
        return _key(row, owner.username), secret

    def api_keys(self, username: str | None = None) -> list[ApiKey]:
        """Every key (or one user's), oldest first."""
        with self._sessions() as session:
            query = (
                select(ApiKeyRow, UserRow.username)
                .join(UserRow, ApiKeyRow.user_id == UserRow.id)
                .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
            )
            if username is not None:
                query = query.where(UserRow.id == self._user_row(session, username).id)
            return [_key(row, owner) for row, owner in session.execute(query).all()]

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key for good; revoking a revoked key changes nothing."""
        with self._sessions.begin() as session:
            found = session.execute(
                select(ApiKeyRow, UserRow.username)
                .join(UserRow, ApiKeyRow.user_id == UserRow.id)
                .where(ApiKeyRow.id == key_id)
            ).first()
            if found is None:
                raise UnknownKey(f"no API key has the id {key_id!r}")
            row, owner = found
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _key(row, owner)

    def verify_key(self, secret: str) -> tuple[User, ApiKey] | None:
        """The key's owner and the key when `secret` is a key in force, else None.

        A key in force is neither revoked nor expired and its owner is not disabled; its
        last-used time is brought up to date (to the minute).
        """
        if not secret.startswith(KEY_PREFIX):
            return None
        digest = key_hash(secret)
        now = self._clock()
        with self._sessions.begin() as session:
            found = session.execute(
                select(ApiKeyRow, UserRow)
                .join(UserRow, ApiKeyRow.user_id == UserRow.id)
                .where(ApiKeyRow.key_sha256 == digest)
            ).first()
            if found is None:
                return None
            row, owner = found
            if not hmac.compare_digest(row.key_sha256, digest):
                return None
            key = _key(row, owner.username)
            if key.status(now) != "active" or owner.disabled:
                return None
            if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_STEP:
                row.last_used_at = now
                key = _key(row, owner.username)
            return _user(owner), key

    # -- helpers ----------------------------------------------------------------------------
    def _find_user(self, session: Session, username: str) -> UserRow | None:
        return session.scalars(select(UserRow).where(UserRow.username == username)).first()

    def _user_row(self, session: Session, username: str) -> UserRow:
        row = self._find_user(session, username)
        if row is None:
            raise UnknownUser(f"no user is named {username!r}")
        return row

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
