"""The Thing directory's storage: TDs by id, and credentials kept apart (both encrypted)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from streamforge.manager.crypto import ConfigCipher
from streamforge.manager.models import ThingCredentialRow, ThingRow, utcnow
from streamforge.manager.store import Conflict, NotFound

__all__ = ["StoredThing", "ThingStore"]


@dataclass(frozen=True)
class StoredThing:
    """A Thing Description as stored."""

    id: str
    td: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class ThingStore:
    """CRUD over the `things` and `thing_credentials` tables; commits before it returns."""

    def __init__(self, engine: Engine, cipher: ConfigCipher) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._cipher = cipher

    def _stored(self, row: ThingRow) -> StoredThing:
        td = json.loads(self._cipher.decrypt(row.td))
        return StoredThing(
            row.id, td, _aware(row.created_at), _aware(row.updated_at), tuple(row.tags or ())
        )

    def page(self, *, after: str | None = None, limit: int = 100) -> list[StoredThing]:
        with self._sessions() as session:
            query = select(ThingRow).order_by(ThingRow.id)
            if after:
                query = query.where(ThingRow.id > after)
            return [self._stored(row) for row in session.scalars(query.limit(limit)).all()]

    def count(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(ThingRow)) or 0)

    def get(self, thing_id: str) -> StoredThing:
        with self._sessions() as session:
            row = session.get(ThingRow, thing_id)
            if row is None:
                raise NotFound(thing_id)
            return self._stored(row)

    def exists(self, thing_id: str) -> bool:
        with self._sessions() as session:
            return session.get(ThingRow, thing_id) is not None

    def tags(self, thing_id: str) -> tuple[str, ...]:
        """The Thing's tags; () when there is no such Thing."""
        with self._sessions() as session:
            tags = session.scalar(select(ThingRow.tags).where(ThingRow.id == thing_id))
            return tuple(tags or ())

    def put(
        self, thing_id: str, td: dict[str, Any], *, create_only: bool = False,
        tags: tuple[str, ...] | None = None,
    ) -> bool:  # fmt: skip
        """Store `td` under `thing_id` (and `tags` unless None); True when it was created
        (False: replaced)."""
        blob = self._cipher.encrypt(json.dumps(td, ensure_ascii=False))
        now = utcnow()
        with self._sessions() as session:
            row = session.get(ThingRow, thing_id)
            if row is not None:
                if create_only:
                    raise Conflict(f"thing {thing_id!r} exists already")
                row.td, row.updated_at = blob, now
                if tags is not None:
                    row.tags = list(tags)
                session.commit()
                return False
            session.add(
                ThingRow(
                    id=thing_id, td=blob, created_at=now, updated_at=now, tags=list(tags or ())
                )
            )
            try:
                session.commit()
            except IntegrityError as exc:
                raise Conflict(f"thing {thing_id!r} exists already") from exc
            return True

    def delete(self, thing_id: str) -> None:
        with self._sessions() as session:
            session.execute(
                delete(ThingCredentialRow).where(ThingCredentialRow.thing_id == thing_id)
            )
            deleted = session.execute(delete(ThingRow).where(ThingRow.id == thing_id))
            session.commit()
            if not deleted.rowcount:  # type: ignore[attr-defined]
                raise NotFound(thing_id)

    # -- credentials ------------------------------------------------------------------------
    def credentials(self, thing_id: str) -> dict[str, Any]:
        """The credentials stored for a Thing, by security scheme name ({} when none)."""
        with self._sessions() as session:
            row = session.get(ThingCredentialRow, thing_id)
            if row is None:
                return {}
            value = json.loads(self._cipher.decrypt(row.credentials))
            return value if isinstance(value, dict) else {}

    def set_credentials(self, thing_id: str, credentials: dict[str, Any]) -> None:
        blob = self._cipher.encrypt(json.dumps(credentials))
        with self._sessions() as session:
            row = session.get(ThingCredentialRow, thing_id)
            if row is None:
                session.add(
                    ThingCredentialRow(thing_id=thing_id, credentials=blob, updated_at=utcnow())
                )
            else:
                row.credentials, row.updated_at = blob, utcnow()
            session.commit()
