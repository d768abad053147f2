"""login throttling and account locks (issue 17)

Revision ID: 0015
Revises: 0014

Adds ``login_throttle`` (``callvault.vault._throttle``): one row per account
(``user:<user id>``) or client address (``addr:<address>``) with recent failed
sign-ins, their count, the time of the last one and until when the next attempt is
refused; and ``users.locked_at``, set when too many failures lock an account until an
administrator unlocks it. Kept in the database so that every process (and a restart)
sees the same counts. No submitted username that does not exist is stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index(
        op.f("ix_login_throttle_last_failure_at"),
        "login_throttle",
        ["last_failure_at"],
        unique=False,
    )
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN locked_at")
    else:
        op.drop_column("users", "locked_at")
    op.drop_index(op.f("ix_login_throttle_last_failure_at"), table_name="login_throttle")
    op.drop_table("login_throttle")
