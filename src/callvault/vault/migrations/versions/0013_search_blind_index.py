"""the search index keeps no words in the clear (issue 17)

Revision ID: 0013
Revises: 0012

Replaces the full-text index of migrations 0003 and 0004, which held every utterance's
text in the clear (SQLite: ``search_fts`` and its ``search_fts_content``; PostgreSQL: the
``text`` and ``tsv`` columns of ``search_utterances``), by a blind index
(``callvault.search._blind``):

- ``search_utterances``: the filter columns as before, and ``sealed``: the utterance's
  text under its call's key (AES-256-GCM). On PostgreSQL also ``tsv``, a tsvector of keyed
  tokens (words, with their prefixes at the same position) and ``pairs``, a tsvector of
  keyed word pairs, each with a GIN index; the ``search_bigrams()`` function is dropped.
- SQLite: ``search_fts``, an FTS5 table over keyed tokens (``words`` in order,
  ``prefixes``), its rowid ``search_utterances.id``.
- ``search_keys``: each call's index key, wrapped under the key ring's search key.

The old tables are dropped with their contents (SQLite runs with ``secure_delete``, so
their pages are overwritten; PostgreSQL unlinks the files of a dropped table). The
embeddings of ``search_embeddings`` (migration 0010) were stored in the clear: they are
deleted too, and written sealed from now on. A migration has no key ring, so the index is
empty afterwards: ``callvault reindex`` fills it again from the decrypted
transcripts (see docs/search.md). Downgrading drops the blind index and restores the empty
tables of 0004 (index again with the older release).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _sibling(name: str) -> ModuleType:
    """The migration module ``name`` of this directory (its file name starts with a
    digit, so it cannot be imported by name)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_callvault_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # Embeddings in the clear cannot be sealed here (no key ring): they go.
    op.execute("DELETE FROM search_embeddings")
    _sibling("0004_search_bigrams").downgrade()
    _sibling("0003_search_index").downgrade()
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
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
    ]
    if postgres:
        columns += [
            sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
            sa.Column("pairs", postgresql.TSVECTOR(), nullable=False),
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
        op.create_index(
            "ix_search_utterances_pairs", "search_utterances", ["pairs"], postgresql_using="gin"
        )
    else:
        # Keyed tokens are base32 (a-z, 2-7): the ascii tokenizer keeps each one whole.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(words, prefixes, tokenize = 'ascii')"
        )
    op.create_table(
        "search_keys",
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_search_keys"),
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DELETE FROM search_embeddings")
    op.drop_table("search_keys")
    if postgres:
        op.drop_index("ix_search_utterances_pairs", table_name="search_utterances")
        op.drop_index("ix_search_utterances_tsv", table_name="search_utterances")
    else:
        op.execute("DROP TABLE search_fts")
    op.drop_index("ix_search_utterances_agent", table_name="search_utterances")
    op.drop_index("ix_search_utterances_started_at", table_name="search_utterances")
    op.drop_index("ix_search_utterances_call_id", table_name="search_utterances")
    op.drop_table("search_utterances")
    _sibling("0003_search_index").upgrade()
    _sibling("0004_search_bigrams").upgrade()
