"""legal holds, retention, consent records

Revision ID: 0005
Revises: 0004

Adds ``calls.retention_class`` (existing calls get ``standard``) and ``calls.retain_until``
(existing calls get null: no expiry assigned, which ``retention run`` never erases), and
the tables ``legal_holds`` and ``consents``.

The columns are added with ``ALTER TABLE ... ADD COLUMN`` on both backends. Batch mode is
used only so that SQLite is never asked for more; it must not copy ``calls`` into a new
table: with foreign keys on, dropping the old ``calls`` would cascade into every table
that points at it. For the same reason the downgrade drops the columns with SQLite's own
``DROP COLUMN`` (SQLite 3.35 and later) instead of a batch copy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "retention_class",
                sa.String(length=32),
                server_default="standard",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_retain_until"), ["retain_until"], unique=False)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("release_reason", sa.String(length=256), nullable=True),
        # No ON DELETE action: a hold row keeps its call from being deleted.
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_legal_holds_call_id_calls")
        ),
        sa.CheckConstraint(
            "(call_id IS NULL) <> (subject_id IS NULL)", name="ck_legal_holds_one_target"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_holds_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("participant", sa.String(length=256), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_consents_call_id_calls"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_participant"), ["participant"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_participant"))
        batch_op.drop_index(batch_op.f("ix_consents_call_id"))
    op.drop_table("consents")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_subject_id"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_call_id"))
    op.drop_table("legal_holds")
    op.drop_index("ix_calls_retain_until", table_name="calls")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE calls DROP COLUMN retain_until")
        op.execute("ALTER TABLE calls DROP COLUMN retention_class")
    else:
        op.drop_column("calls", "retain_until")
        op.drop_column("calls", "retention_class")
