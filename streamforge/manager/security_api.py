"""/admin/security and /admin/audit: users and their API keys, roles, authorization policies,
and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from streamforge.license.policy import PolicyError
from streamforge.manager.access import access_of
from streamforge.manager.audit import AuditLog, note_change
from streamforge.manager.authz import Authorizer, check_policy_source
from streamforge.manager.identities import (
    ApiKey,
    Identities,
    IdentityError,
    UnknownKey,
    UnknownUser,
    User,
)
from streamforge.manager.permissions import PERMISSIONS
from streamforge.manager.security_store import Role, SecurityStore, StoredPolicy
from streamforge.manager.service import Manager

__all__ = ["add_security_routes"]

USERS = "/admin/security/users"
ROLES = "/admin/security/roles"
POLICIES = "/admin/security/policies"


# -- bodies and answers ---------------------------------------------------------------------
class UserCreate(BaseModel):
    username: str
    password: str = Field(min_length=1, max_length=1024)
    roles: list[str] = Field(min_length=1, description="viewer, operator, engineer, admin, custom")
    scopes: list[str] = Field(
        default_factory=list,
        description="Limit the roles to ids matching a pattern (line-2.*), to tagged resources "
        "(tag:<tag>), or either for one role only (engineer@line-2.*)",
    )


class UserChange(BaseModel):
    roles: list[str] | None = Field(default=None, min_length=1)
    scopes: list[str] | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    roles: list[str]
    scopes: list[str]
    disabled: bool
    locked_until: str | None
    created_at: str
    updated_at: str


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class KeyOut(BaseModel):
    id: str
    name: str
    username: str
    prefix: str
    status: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown this once, never again")


class RoleCreate(BaseModel):
    name: str
    permissions: list[str] = Field(min_length=1)
    description: str = ""


class RoleOut(BaseModel):
    name: str
    permissions: list[str]
    description: str
    builtin: bool


class PolicyUpload(BaseModel):
    name: str
    source: str = Field(min_length=1, max_length=256 * 1024, description="Rego text")


class PolicyOut(BaseModel):
    name: str
    source: str
    created_at: str
    created_by: str


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    via: str
    address: str
    action: str
    target: str
    outcome: str
    before: str | None
    after: str | None


class AuditPage(BaseModel):
    entries: list[AuditOut]
    next: int | None = Field(description="Pass as before_id for older entries")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username, roles=list(user.roles), scopes=list(user.scopes),
        disabled=user.disabled, locked_until=_iso(user.locked_until),
        created_at=user.created_at.isoformat(), updated_at=user.updated_at.isoformat(),
    )  # fmt: skip


def _key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id, "name": key.name, "username": key.username, "prefix": key.prefix,
        "status": key.status(datetime.now(key.created_at.tzinfo)),
        "created_at": key.created_at.isoformat(), "expires_at": _iso(key.expires_at),
        "last_used_at": _iso(key.last_used_at),
    }  # fmt: skip


def _role_out(role: Role) -> RoleOut:
    return RoleOut(name=role.name, permissions=list(role.permissions),
                   description=role.description, builtin=role.builtin)  # fmt: skip


def _policy_out(policy: StoredPolicy) -> PolicyOut:
    return PolicyOut(
        name=policy.name,
        source=policy.source,
        created_at=policy.created_at.isoformat(),
        created_by=policy.created_by,
    )


def _shown(user: User) -> dict[str, Any]:
    """A user as the audit log keeps them (never a password or its hash)."""
    return {"username": user.username, "roles": list(user.roles), "scopes": list(user.scopes),
            "disabled": user.disabled}  # fmt: skip


def add_security_routes(
    app: FastAPI,
    manager: Manager,
    identities: Identities,
    security: SecurityStore,
    authorizer: Authorizer,
    audit: AuditLog,
    secured: list[Any],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    """Register the /admin/security and /admin/audit routes."""
    tags: list[str | Enum] = ["admin"]

    def known_roles() -> list[str]:
        return security.role_names()

    def user_or_404(username: str) -> User:
        try:
            return identities.user(username)
        except UnknownUser:
            raise HTTPException(404, f"no user {username!r}") from None

    def check_user_limit() -> None:
        decisions = manager.decisions
        if decisions is None:
            return
        from streamforge.license.gate import check_limit

        message = check_limit(decisions, "users", len(identities.users()) + 1)
        if message is not None:
            raise HTTPException(402, message)

    # -- users --------------------------------------------------------------------------------
    @app.get(USERS, dependencies=secured, tags=tags, responses=errors())
    def list_users() -> list[UserOut]:
        return [_user_out(u) for u in identities.users()]

    @app.post(USERS, status_code=201, dependencies=secured, tags=tags,
              responses=errors(400, 402, 409))  # fmt: skip
    def create_user(body: UserCreate, request: Request, response: Response) -> UserOut:
        check_user_limit()
        try:
            user = identities.add_user(
                body.username, body.password, body.roles, body.scopes, known_roles=known_roles()
            )
        except IdentityError as exc:
            status = 409 if "exists already" in str(exc) else 400
            raise HTTPException(status, str(exc)) from None
        note_change(request, after=_shown(user))
        response.headers["Location"] = f"{USERS}/{user.username}"
        return _user_out(user)

    @app.get(f"{USERS}/{{username}}", dependencies=secured, tags=tags, responses=errors(404))
    def get_user(username: str) -> UserOut:
        return _user_out(user_or_404(username))

    @app.patch(f"{USERS}/{{username}}", dependencies=secured, tags=tags,
               responses=errors(400, 404))  # fmt: skip
    def change_user(username: str, body: UserChange, request: Request) -> UserOut:
        before = user_or_404(username)
        try:
            if body.password is not None:
                identities.set_password(username, body.password)
            user = identities.update_user(
                username, roles=body.roles, scopes=body.scopes, disabled=body.disabled,
                known_roles=known_roles(),
            )  # fmt: skip
        except IdentityError as exc:
            raise HTTPException(400, str(exc)) from None
        after = _shown(user) | ({"password": "changed"} if body.password is not None else {})
        note_change(request, before=_shown(before), after=after)
        return _user_out(user)

    @app.delete(f"{USERS}/{{username}}", status_code=204, dependencies=secured, tags=tags,
                responses=errors(404, 409))  # fmt: skip
    def delete_user(username: str, request: Request) -> Response:
        before = user_or_404(username)
        if username == access_of(request).identity.subject:
            raise HTTPException(409, "you cannot remove yourself; another admin can")
        identities.remove_user(username)
        note_change(request, before=_shown(before))
        return Response(status_code=204)

    # -- API keys -----------------------------------------------------------------------------
    @app.get(f"{USERS}/{{username}}/keys", dependencies=secured, tags=tags,
             responses=errors(404))  # fmt: skip
    def list_keys(username: str) -> list[KeyOut]:
        user_or_404(username)
        return [KeyOut(**_key_out(k)) for k in identities.api_keys(username)]

    @app.post(f"{USERS}/{{username}}/keys", status_code=201, dependencies=secured, tags=tags,
              responses=errors(400, 404))  # fmt: skip
    def create_key(username: str, body: KeyCreate, request: Request) -> KeyCreated:
        from datetime import timedelta

        user_or_404(username)
        expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
        try:
            key, secret = identities.create_key(username, body.name, expires_in=expires)
        except IdentityError as exc:
            raise HTTPException(400, str(exc)) from None
        shown = _key_out(key)
        note_change(request, after=shown)
        return KeyCreated(**shown, key=secret)

    @app.delete(f"{USERS}/{{username}}/keys/{{key_id}}", status_code=204, dependencies=secured,
                tags=tags, responses=errors(404))  # fmt: skip
    def revoke_key(username: str, key_id: str, request: Request) -> Response:
        user_or_404(username)
        if key_id not in {k.id for k in identities.api_keys(username)}:
            raise HTTPException(404, f"user {username!r} has no API key {key_id!r}")
        try:
            key = identities.revoke_key(key_id)
        except UnknownKey:
            raise HTTPException(404, f"no API key {key_id!r}") from None
        note_change(request, after=_key_out(key))
        return Response(status_code=204)

    # -- roles --------------------------------------------------------------------------------
    @app.get(ROLES, dependencies=secured, tags=tags, responses=errors())
    def list_roles() -> dict[str, Any]:
        return {
            "roles": [_role_out(r) for r in security.roles()],
            "permissions": PERMISSIONS,
        }

    @app.post(ROLES, status_code=201, dependencies=secured, tags=tags,
              responses=errors(400, 409))  # fmt: skip
    def create_role(body: RoleCreate, request: Request) -> RoleOut:
        role = security.add_role(body.name, body.permissions, body.description)
        authorizer.reload_roles()
        note_change(request, after=_role_out(role).model_dump())
        return _role_out(role)

    @app.get(f"{ROLES}/{{name}}", dependencies=secured, tags=tags, responses=errors(404))
    def get_role(name: str) -> RoleOut:
        return _role_out(security.role(name))

    @app.delete(f"{ROLES}/{{name}}", status_code=204, dependencies=secured, tags=tags,
                responses=errors(404, 409))  # fmt: skip
    def delete_role(name: str, request: Request) -> Response:
        role = security.role(name)
        holders = [u.username for u in identities.users() if name in u.roles]
        if holders:
            raise HTTPException(409, f"role {name!r} is held by {', '.join(holders)}")
        security.remove_role(name)
        authorizer.reload_roles()
        note_change(request, before=_role_out(role).model_dump())
        return Response(status_code=204)

    # -- policies -----------------------------------------------------------------------------
    @app.get(POLICIES, dependencies=secured, tags=tags, responses=errors())
    def list_policies() -> dict[str, Any]:
        return {
            "builtin": ["authz.rego"],
            "policies": [_policy_out(p) for p in security.policies()],
        }

    @app.post(POLICIES, status_code=201, dependencies=secured, tags=tags,
              responses=errors(400))  # fmt: skip
    def upload_policy(body: PolicyUpload, request: Request, response: Response) -> PolicyOut:
        check_policy_source(body.name, body.source)
        sources = security.policy_sources()
        before = sources.get(body.name)
        sources[body.name] = body.source
        try:
            authorizer.try_policies(sources)
        except PolicyError as exc:
            raise HTTPException(400, f"the policy was not taken: {exc}") from None
        stored, created = security.put_policy(body.name, body.source,
                                              access_of(request).identity.subject)  # fmt: skip
        authorizer.reload()
        note_change(request, before=before, after=body.source)
        if not created:
            response.status_code = 200
        return _policy_out(stored)

    @app.get(f"{POLICIES}/{{name}}", dependencies=secured, tags=tags, responses=errors(404))
    def get_policy(name: str) -> PolicyOut:
        return _policy_out(security.policy(name))

    @app.delete(f"{POLICIES}/{{name}}", status_code=204, dependencies=secured, tags=tags,
                responses=errors(404))  # fmt: skip
    def delete_policy(name: str, request: Request) -> Response:
        policy = security.policy(name)
        security.remove_policy(name)
        authorizer.reload()
        note_change(request, before=policy.source)
        return Response(status_code=204)

    # -- audit --------------------------------------------------------------------------------
    @app.get("/admin/audit", dependencies=secured, tags=tags, responses=errors())
    def read_audit(
        actor: str | None = None,
        action: str | None = None,
        target: str | None = Query(None, description="A prefix of `METHOD /path`"),
        outcome: str | None = Query(None, description="The HTTP status, e.g. 403"),
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = Query(None, ge=1),
        limit: int = Query(100, ge=1, le=1000),
    ) -> AuditPage:
        found = audit.entries(
            actor=actor, action=action, target=target, outcome=outcome, since=since,
            until=until, before_id=before_id, limit=limit + 1,
        )  # fmt: skip
        more = len(found) > limit
        found = found[:limit]
        return AuditPage(
            entries=[
                AuditOut(
                    id=e.id,
                    at=e.at.isoformat(),
                    actor=e.actor,
                    via=e.via,
                    address=e.address,
                    action=e.action,
                    target=e.target,
                    outcome=e.outcome,
                    before=e.before,
                    after=e.after,
                )  # fmt: skip
                for e in found
            ],
            next=found[-1].id if more and found else None,
        )
