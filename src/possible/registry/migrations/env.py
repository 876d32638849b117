"""Alembic environment: migrations run on the connection the registry hands over."""

from __future__ import annotations

from alembic import context

from possible.registry.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through possible.registry.db
    raise RuntimeError("run migrations through possible.registry.db.Database.migrate")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
