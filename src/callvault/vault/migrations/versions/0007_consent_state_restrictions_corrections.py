"""consent state and quarantine, standing consents, restrictions, corrections

Revision ID: 0007
Revises: 0006

Adds to ``calls``: ``consent_state`` (existing calls get ``not-needed``: they were stored
before the gate kept this state), ``quarantine_until`` (when a quarantined call that still
lacks consent is erased) and ``erasure_state`` (null, or ``partial`` once one party's leg
has been erased). Adds ``consents.standing`` (a consent that covers a party's future calls,
not one call; false for existing rows) and the tables ``restrictions`` (a data subject's
processing frozen until lifted) and ``corrections`` (rectifications with their history,
the old and new values encrypted under the recording's data key).

Columns are added with ``ADD COLUMN`` only, for the reason given in 0005.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "consent_state", sa.String(length=16), server_default="not-needed", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("quarantine_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("erasure_state", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_consent_state"), ["consent_state"], unique=False)
    with op.batch_alter_table("consents", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("standing", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "restrictions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=128), nullable=True),
        sa.Column("lift_reason", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restrictions")),
    )
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_restrictions_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "corrections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("target_key", sa.String(length=64), nullable=False),
        sa.Column("old_value", sa.LargeBinary(), nullable=False),
        sa.Column("new_value", sa.LargeBinary(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_corrections_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_corrections_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    with op.batch_alter_table("corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_corrections_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_corrections_recording_id"), ["recording_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_corrections_recording_id"))
        batch_op.drop_index(batch_op.f("ix_corrections_call_id"))
    op.drop_table("corrections")
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_restrictions_subject_id"))
    op.drop_table("restrictions")
    op.drop_index("ix_calls_consent_state", table_name="calls")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE consents DROP COLUMN standing")
        for column in ("erasure_state", "quarantine_until", "consent_state"):
            op.execute(f"ALTER TABLE calls DROP COLUMN {column}")
    else:
        op.drop_column("consents", "standing")
        for column in ("erasure_state", "quarantine_until", "consent_state"):
            op.drop_column("calls", column)
