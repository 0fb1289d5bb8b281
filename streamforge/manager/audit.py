"""The audit log: every change made through the manager, who made it, from where, and how it
ended, appended to the database.

Changes are the requests that may change something (POST, PUT, PATCH, DELETE), refused ones
included. Handlers add what changed with `note_change` (configs as shown, with secrets
redacted); request bodies are never stored, so passwords, keys and licences are not either.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from streamforge.manager.models import AuditRow, utcnow

__all__ = ["AuditEntry", "AuditLog", "add_audit_middleware", "note_actor", "note_change"]

log = logging.getLogger("streamforge.manager.audit")

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TEXT_LIMIT = 256 * 1024


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    via: str
    address: str
    action: str
    target: str
    outcome: str
    before: str | None
    after: str | None
    detail: str | None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:_TEXT_LIMIT]


class AuditLog:
    """Appends entries and reads them back with filters; commits before it returns."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def append(
        self, *, actor: str, via: str, address: str, action: str, target: str, outcome: str,
        before: Any = None, after: Any = None, detail: str | None = None,
    ) -> None:  # fmt: skip
        row = AuditRow(
            at=utcnow(), actor=actor[:128], via=via[:32], address=address[:64],
            action=action[:64], target=target[:512], outcome=outcome[:32],
            before=_text(before), after=_text(after), detail=_text(detail),
        )  # fmt: skip
        with self._sessions() as session:
            session.add(row)
            session.commit()

    def entries(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None,
        outcome: str | None = None, since: datetime | None = None, until: datetime | None = None,
        before_id: int | None = None, limit: int = 100,
    ) -> list[AuditEntry]:  # fmt: skip
        """Newest first; `target` matches a prefix, the others exactly."""
        query = select(AuditRow).order_by(AuditRow.id.desc())
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if target is not None:
            query = query.where(AuditRow.target.startswith(target, autoescape=True))
        if outcome is not None:
            query = query.where(AuditRow.outcome == outcome)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if until is not None:
            query = query.where(AuditRow.at < until)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        with self._sessions() as session:
            rows = session.scalars(query.limit(limit)).all()
            return [
                AuditEntry(
                    r.id,
                    _aware(r.at),
                    r.actor,
                    r.via,
                    r.address,
                    r.action,
                    r.target,
                    r.outcome,
                    r.before,
                    r.after,
                    r.detail,
                )  # fmt: skip
                for r in rows
            ]


def note_change(request: Request, *, before: Any = None, after: Any = None) -> None:
    """What a change replaced and what it made (no secrets: configs as shown)."""
    if before is not None:
        request.state.audit_before = before
    if after is not None:
        request.state.audit_after = after


def note_actor(request: Request, actor: str, via: str) -> None:
    """Who a request without a bearer token speaks for (a sign-in names its user)."""
    request.state.audit_actor = (actor, via)


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "-"


def add_audit_middleware(app: FastAPI, audit: AuditLog) -> None:
    """Append an entry for every request that may change something, after it is answered."""

    @app.middleware("http")
    async def audit_changes(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method not in _CHANGES:
            return response
        state = request.state
        identity = getattr(state, "identity", None)
        actor, via = getattr(state, "audit_actor", ("-", "-"))
        if identity is not None:
            actor, via = identity.subject, identity.via
        route = request.scope.get("route")
        action = getattr(route, "name", None) or f"{request.method} {request.url.path}"
        try:
            await asyncio.to_thread(
                audit.append, actor=actor, via=via, address=_address(request), action=action,
                target=f"{request.method} {request.url.path}",
                outcome=str(response.status_code),
                before=getattr(state, "audit_before", None),
                after=getattr(state, "audit_after", None),
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - an audit failure is logged, not shown
            log.error("audit entry not written for %s %s: %s", request.method,
                      request.url.path, exc)  # fmt: skip
        return response
