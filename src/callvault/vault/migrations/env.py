"""Alembic environment: callvault runs migrations itself on a connection it passes in."""

from __future__ import annotations

from alembic import context

from callvault.vault._models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a bare `alembic` command
    raise RuntimeError("run migrations through callvault (Vault.open), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
