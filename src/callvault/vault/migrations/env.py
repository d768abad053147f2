"""Alembic environment: callvault runs migrations itself on a connection it passes in."""

from __future__ import annotations

from alembic import context

# Every table's declaration on Base, so that autogenerate compares the whole schema: the
# vault's own, the `jobs` table of callvault.jobs (its migrations, 0002 and 0016, stay in
# this history), the account tables of callvault.accounts and the `contacts` table of
# callvault.contacts. This file is the schema's composition root: the one place the
# storage core names the packages built on it (an exception the import contracts list).
import callvault.accounts  # noqa: F401
import callvault.contacts  # noqa: F401
import callvault.jobs  # noqa: F401
from callvault.vault._models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a bare `alembic` command
    raise RuntimeError("run migrations through callvault (Vault.open), not the alembic CLI")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The search index is dialect-specific (FTS5 on SQLite, tsvector on PostgreSQL) and
    # created by hand in its migration, not declared on Base: autogenerate leaves it be.
    return not (type_ == "table" and compare_to is None and (name or "").startswith("search_"))


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
