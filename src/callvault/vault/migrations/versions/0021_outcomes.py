"""outcomes of calls, contacts and deals, and the trained outcome model (issue 22)

Revision ID: 0021
Revises: 0020

Adds ``outcomes``: an outcome (won, lost, churned, resolved, open) recorded for one call,
one contact or one deal (an opaque id from the CRM), with who recorded it, when and from
where (cli, api, csv, crm). A row goes with its call and with its contact (ON DELETE
CASCADE): erasing either erases its outcomes. Adds ``outcome_models``: each trained
model as JSON sealed (AES-GCM) under its own data key, wrapped by the key ring.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("deal", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_outcomes_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_outcomes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcomes_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outcomes_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outcomes_deal"), ["deal"], unique=False)
    op.create_table(
        "outcome_models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.String(length=128), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_models")),
    )


def downgrade() -> None:
    op.drop_table("outcome_models")
    op.drop_table("outcomes")
