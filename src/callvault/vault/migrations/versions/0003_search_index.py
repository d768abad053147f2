"""search index

Revision ID: 0003
Revises: 0002

The full-text index of transcript utterances (``callvault.search``). Its tables are
dialect-specific and deliberately not part of ``Base.metadata``: on SQLite an FTS5 table
(plus the shadow tables FTS5 creates for it) and a plain table of filter columns; on
PostgreSQL one table with a ``tsvector`` column and a GIN index. Every object is named
``search_*`` so that schema comparison can leave them out
(``callvault.search.is_search_table``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.BigInteger() if postgres else sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("utterance", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
    ]
    if postgres:
        # The tsvector is built on insert from callvault's own tokens (see
        # callvault.search._query.tokenize), so both backends cut words alike.
        columns += [
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
        ]
    op.create_table(
        "search_utterances",
        *columns,
        sa.PrimaryKeyConstraint("id", name="pk_search_utterances"),
        sa.UniqueConstraint("recording_id", "utterance", name="uq_search_utterances_recording"),
    )
    op.create_index("ix_search_utterances_call_id", "search_utterances", ["call_id"])
    op.create_index("ix_search_utterances_started_at", "search_utterances", ["started_at"])
    op.create_index("ix_search_utterances_agent", "search_utterances", ["agent"])
    if postgres:
        op.create_index(
            "ix_search_utterances_tsv", "search_utterances", ["tsv"], postgresql_using="gin"
        )
    else:
        # remove_diacritics 0: ä, ö, ü and ß stay letters of their own (see _query.py).
        # The rowid of search_fts is search_utterances.id.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "text, tokenize = 'unicode61 remove_diacritics 0')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE search_fts")
    else:
        op.drop_index("ix_search_utterances_tsv", table_name="search_utterances")
    op.drop_index("ix_search_utterances_agent", table_name="search_utterances")
    op.drop_index("ix_search_utterances_started_at", table_name="search_utterances")
    op.drop_index("ix_search_utterances_call_id", table_name="search_utterances")
    op.drop_table("search_utterances")
