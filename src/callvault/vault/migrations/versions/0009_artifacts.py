"""artifacts of a recording: its insights and its kept original

Revision ID: 0009
Revises: 0008

Adds the table ``artifacts``: blobs derived from or kept beside a recording, encrypted
under the recording's data key (so erasing the recording erases them), one per kind:
``insights`` (the JSON document of the insight stages and the redactions) and
``original`` (the unredacted audio, kept only where the redaction policy allows it).

Adds ``recordings.source_sha256``: the SHA-256 of the file as it was ingested, set when
a rewrite (a redaction, a cut, a silenced leg) replaces the audio, so that ingesting
the same file again is still recognised as a duplicate. Added with ``ADD COLUMN`` only,
for the reason given in 0005.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("source_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_recordings_source_sha256"), ["source_sha256"], unique=False
        )
    op.create_table(
        "artifacts",
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext_sha256", sa.String(length=64), nullable=False),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_artifacts_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "kind", name=op.f("pk_artifacts")),
    )


def downgrade() -> None:
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_recordings_source_sha256"), table_name="recordings")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE recordings DROP COLUMN source_sha256")
    else:
        op.drop_column("recordings", "source_sha256")
