"""Streams as the manager stores them: configs (encrypted), versions, desired state.

Every method commits before it returns, so an answer given after it survives a kill of the
manager.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from streamforge.manager.crypto import ConfigCipher
from streamforge.manager.models import Credential, StreamRow, StreamVersionRow, utcnow

__all__ = ["Conflict", "NotFound", "StoredStream", "StoredVersion", "StreamStore"]


class NotFound(Exception):
    """No stream has this id."""


class Conflict(Exception):
    """A stream with this id exists already, or the stored version moved on (stale ETag)."""


@dataclass(frozen=True)
class StoredStream:
    """A stream's stored record, config decrypted."""

    id: str
    config_yaml: str
    desired: str
    version: int
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.id}\0{self.version}".encode()).hexdigest()[:16]
        return f'"{self.version}-{digest}"'


@dataclass(frozen=True)
class StoredVersion:
    """One accepted config of a stream."""

    version: int
    config_yaml: str
    created_at: datetime
    created_by: str


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class StreamStore:
    """CRUD over the manager's database."""

    def __init__(self, engine: Engine, cipher: ConfigCipher) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._cipher = cipher

    def _stored(self, row: StreamRow) -> StoredStream:
        return StoredStream(
            row.id,
            self._cipher.decrypt(row.config),
            row.desired,
            row.version,
            _aware(row.created_at),
            _aware(row.updated_at),
            tuple(row.tags or ()),
        )

    # -- streams ----------------------------------------------------------------------------
    def page(
        self, *, after: str | None = None, limit: int = 100, q: str = ""
    ) -> list[StoredStream]:
        """Streams ordered by id, after the id `after`, whose id contains `q`."""
        with self._sessions() as session:
            query = select(StreamRow).order_by(StreamRow.id)
            if after:
                query = query.where(StreamRow.id > after)
            if q:
                query = query.where(StreamRow.id.contains(q, autoescape=True))
            rows = session.scalars(query.limit(limit)).all()
            return [self._stored(row) for row in rows]

    def count(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(StreamRow)) or 0)

    def get(self, stream_id: str) -> StoredStream:
        with self._sessions() as session:
            row = session.get(StreamRow, stream_id)
            if row is None:
                raise NotFound(stream_id)
            return self._stored(row)

    def tags(self, stream_id: str) -> tuple[str, ...]:
        """The stream's tags; () when there is no such stream."""
        with self._sessions() as session:
            tags = session.scalar(select(StreamRow.tags).where(StreamRow.id == stream_id))
            return tuple(tags or ())

    def create(
        self, stream_id: str, config_yaml: str, *, desired: str = "running", by: str = "admin",
        tags: tuple[str, ...] = (),
    ) -> StoredStream:  # fmt: skip
        now = utcnow()
        blob = self._cipher.encrypt(config_yaml)
        with self._sessions() as session:
            row = StreamRow(
                id=stream_id, desired=desired, version=1, config=blob, created_at=now,
                updated_at=now, tags=list(tags),
            )  # fmt: skip
            session.add(row)
            session.add(
                StreamVersionRow(
                    stream_id=stream_id, version=1, config=blob, created_at=now, created_by=by
                )
            )
            try:
                session.commit()
            except IntegrityError as exc:
                raise Conflict(f"stream {stream_id!r} exists already") from exc
            return self._stored(row)

    def replace(
        self, stream_id: str, config_yaml: str, *, expected_version: int | None = None,
        by: str = "admin", tags: tuple[str, ...] | None = None,
    ) -> StoredStream:  # fmt: skip
        """A new version of the config (and new tags unless None); Conflict when
        `expected_version` is not the stored one."""
        now = utcnow()
        blob = self._cipher.encrypt(config_yaml)
        with self._sessions() as session:
            row = session.get(StreamRow, stream_id, with_for_update=True)
            if row is None:
                raise NotFound(stream_id)
            if expected_version is not None and row.version != expected_version:
                raise Conflict(f"stream {stream_id!r} is at version {row.version}")
            row.version += 1
            row.config = blob
            row.updated_at = now
            if tags is not None:
                row.tags = list(tags)
            session.add(
                StreamVersionRow(
                    stream_id=stream_id, version=row.version, config=blob, created_at=now,
                    created_by=by,
                )
            )  # fmt: skip
            session.commit()
            return self._stored(row)

    def set_desired(self, stream_id: str, desired: str) -> StoredStream:
        with self._sessions() as session:
            row = session.get(StreamRow, stream_id)
            if row is None:
                raise NotFound(stream_id)
            row.desired = desired
            session.commit()
            return self._stored(row)

    def delete(self, stream_id: str) -> None:
        with self._sessions() as session:
            session.execute(delete(StreamVersionRow).where(StreamVersionRow.stream_id == stream_id))
            deleted = session.execute(delete(StreamRow).where(StreamRow.id == stream_id))
            session.commit()
            if not deleted.rowcount:  # type: ignore[attr-defined]
                raise NotFound(stream_id)

    # -- versions ---------------------------------------------------------------------------
    def versions(self, stream_id: str) -> list[StoredVersion]:
        with self._sessions() as session:
            if session.get(StreamRow, stream_id) is None:
                raise NotFound(stream_id)
            rows = session.scalars(
                select(StreamVersionRow)
                .where(StreamVersionRow.stream_id == stream_id)
                .order_by(StreamVersionRow.version)
            ).all()
            return [
                StoredVersion(
                    r.version, self._cipher.decrypt(r.config), _aware(r.created_at), r.created_by
                )
                for r in rows
            ]

    def version(self, stream_id: str, version: int) -> StoredVersion:
        for stored in self.versions(stream_id):
            if stored.version == version:
                return stored
        raise NotFound(f"{stream_id} version {version}")

    # -- credentials ------------------------------------------------------------------------
    def credential(self, name: str) -> str | None:
        """The sha256 hex of the named token, None when there is none."""
        with self._sessions() as session:
            row = session.get(Credential, name)
            return row.token_sha256 if row is not None else None

    def set_credential(self, name: str, token_sha256: str) -> None:
        with self._sessions() as session:
            row = session.get(Credential, name)
            if row is None:
                session.add(Credential(name=name, token_sha256=token_sha256, created_at=utcnow()))
            else:
                row.token_sha256 = token_sha256
            session.commit()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
