"""Alembic environment: migrates the connection the manager hands over in `attributes`."""

from __future__ import annotations

from alembic import context

from streamforge.manager.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
