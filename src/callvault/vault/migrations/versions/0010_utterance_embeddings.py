"""search index: sentence embeddings of utterances

Revision ID: 0010
Revises: 0009

Adds ``search_embeddings``: one row per indexed utterance with its sentence embedding
(``vector``: 384 float16 values, little-endian, L2-normalised; see
``callvault.search._semantic``) and the name of the model that made it. Like the other
``search_*`` tables it is not declared on ``Base.metadata`` and schema comparison leaves
it out (``callvault.search.is_search_table``). Its rows go with their call or recording
(``ON DELETE CASCADE``) and with the call's full-text rows (`SearchIndex` purges both).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_embeddings",
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("utterance", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_search_embeddings_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_search_embeddings_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "utterance", name=op.f("pk_search_embeddings")),
    )
    op.create_index("ix_search_embeddings_call_id", "search_embeddings", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_search_embeddings_call_id", table_name="search_embeddings")
    op.drop_table("search_embeddings")
