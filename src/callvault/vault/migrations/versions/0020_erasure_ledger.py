"""the erasure ledger: what every erasure destroyed, by ids only (issue 21)

Revision ID: 0020
Revises: 0019

Adds ``erasure_ledger`` (one entry per erasure: a call erased, a recording rewritten
under a new key, a refusal's quarantine shredded, a key-encryption key destroyed; ids,
blob keys and hashes only, chained by SHA-256 and signed entry by entry) and
``erasure_ledger_head`` (its last entry, one row, locked by appenders). The ledger is
copied into every backup and replayed at restore, so an erasure made after a backup
was taken is made again before the restored vault serves anyone.

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_ledger",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_erasure_ledger")),
    )
    op.create_table(
        "erasure_ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_ledger_head")),
    )
    op.execute(f"INSERT INTO erasure_ledger_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")


def downgrade() -> None:
    op.drop_table("erasure_ledger_head")
    op.drop_table("erasure_ledger")
