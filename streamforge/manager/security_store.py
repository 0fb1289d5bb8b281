"""Custom roles and uploaded authorization policies as the manager stores them.

Every method commits before it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from streamforge.manager.models import AuthzPolicyRow, RoleRow, utcnow
from streamforge.manager.permissions import BUILTIN_ROLES, check_permissions
from streamforge.manager.store import Conflict, NotFound

__all__ = ["Role", "SecurityStore", "StoredPolicy", "check_role_name"]

_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Role:
    """A role: built-in or custom, and the permissions it grants."""

    name: str
    permissions: tuple[str, ...]
    description: str = ""
    builtin: bool = False


@dataclass(frozen=True)
class StoredPolicy:
    """An uploaded authorization policy."""

    name: str
    source: str
    created_at: datetime
    created_by: str


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def check_role_name(name: str) -> None:
    """ValueError unless `name` can name a custom role."""
    if not _ROLE_NAME.fullmatch(name):
        raise ValueError(f"role name {name!r}: 1 to 64 of a-z 0-9 _ -, starting with a letter")
    if name in BUILTIN_ROLES:
        raise Conflict(f"role {name!r} is built in")


_BUILTIN_TEXT = {
    "viewer": "reads streams, Things, metrics, logs, alarms and dead letters",
    "operator": "a viewer who also starts, stops and restarts streams, acknowledges alarms and "
    "replays dead letters",
    "engineer": "an operator who also creates, changes and deletes streams, Things and templates",
    "admin": "everything, including users, keys, roles, policies, the licence and the system",
}


class SecurityStore:
    """CRUD over the `roles` and `authz_policies` tables."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- roles --------------------------------------------------------------------------------
    def roles(self) -> list[Role]:
        """The built-in roles, then the custom ones by name."""
        builtin = [Role(n, p, _BUILTIN_TEXT[n], True) for n, p in BUILTIN_ROLES.items()]
        with self._sessions() as session:
            rows = session.scalars(select(RoleRow).order_by(RoleRow.name)).all()
            return builtin + [Role(r.name, tuple(r.permissions), r.description) for r in rows]

    def role(self, name: str) -> Role:
        for role in self.roles():
            if role.name == name:
                return role
        raise NotFound(f"role {name}")

    def custom_permissions(self) -> dict[str, list[str]]:
        """Custom role name -> permissions, as the authorization policy reads them."""
        return {r.name: list(r.permissions) for r in self.roles() if not r.builtin}

    def add_role(self, name: str, permissions: list[str], description: str = "") -> Role:
        check_role_name(name)
        checked = check_permissions(permissions)
        if not checked:
            raise ValueError("a role needs at least one permission")
        now = utcnow()
        with self._sessions() as session:
            session.add(
                RoleRow(name=name, description=description[:512], permissions=checked,
                        created_at=now, updated_at=now)
            )  # fmt: skip
            try:
                session.commit()
            except IntegrityError as exc:
                raise Conflict(f"role {name!r} exists already") from exc
        return Role(name, tuple(checked), description[:512])

    def remove_role(self, name: str) -> None:
        if name in BUILTIN_ROLES:
            raise Conflict(f"role {name!r} is built in and cannot be deleted")
        with self._sessions() as session:
            deleted = session.execute(delete(RoleRow).where(RoleRow.name == name))
            session.commit()
            if not deleted.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"role {name}")

    def role_names(self) -> list[str]:
        """Every role's name: the built-in ones least privileged first, then the custom ones."""
        return [role.name for role in self.roles()]

    # -- policies -----------------------------------------------------------------------------
    def policies(self) -> list[StoredPolicy]:
        with self._sessions() as session:
            rows = session.scalars(select(AuthzPolicyRow).order_by(AuthzPolicyRow.name)).all()
            return [
                StoredPolicy(r.name, r.source, _aware(r.created_at), r.created_by) for r in rows
            ]

    def policy_sources(self) -> dict[str, str]:
        return {p.name: p.source for p in self.policies()}

    def policy(self, name: str) -> StoredPolicy:
        for policy in self.policies():
            if policy.name == name:
                return policy
        raise NotFound(f"policy {name}")

    def put_policy(self, name: str, source: str, by: str) -> tuple[StoredPolicy, bool]:
        """Store a policy (replacing one of the same name); True when it is new."""
        now = utcnow()
        with self._sessions() as session:
            row = session.get(AuthzPolicyRow, name)
            created = row is None
            if row is None:
                row = AuthzPolicyRow(name=name, source=source, created_at=now, created_by=by)
                session.add(row)
            else:
                row.source, row.created_at, row.created_by = source, now, by
            session.commit()
            return StoredPolicy(name, source, now, by), created

    def remove_policy(self, name: str) -> None:
        with self._sessions() as session:
            deleted = session.execute(delete(AuthzPolicyRow).where(AuthzPolicyRow.name == name))
            session.commit()
            if not deleted.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"policy {name}")
