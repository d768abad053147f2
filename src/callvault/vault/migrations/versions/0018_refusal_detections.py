"""spoken refusals to be recorded found by processing, and their quarantined audio (issue 20)

Revision ID: 0018
Revises: 0017

Adds the table ``refusal_detections``: a party's spoken refusal found in a processed
call, what was decided (honour or flag) and done (cut, erased), its review (applied,
flagged, reversed, expired), and the sealed part of the recording cut away for it,
kept under the detection's own data key until ``quarantine_until`` so that a false
detection can be reversed. The words are stored only sealed. Rows go with their call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusal_detections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("phrase", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=True),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("words", sa.LargeBinary(), nullable=True),
        sa.Column("quarantine_key", sa.String(length=128), nullable=True),
        sa.Column("quarantine_sha256", sa.String(length=64), nullable=True),
        sa.Column("quarantine_size", sa.BigInteger(), nullable=True),
        sa.Column("quarantine_ciphertext_size", sa.BigInteger(), nullable=True),
        sa.Column("quarantine_meta", sa.Text(), nullable=True),
        sa.Column("quarantine_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_ids", sa.Text(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reason", sa.String(length=256), nullable=True),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_refusal_detections_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusal_detections")),
    )
    with op.batch_alter_table("refusal_detections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refusal_detections_call_id"), ["call_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refusal_detections_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_refusal_detections_quarantine_until"),
            ["quarantine_until"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("refusal_detections")
