"""where a call came from, and what the network said of it

Revision ID: 0008
Revises: 0007

Adds ``calls.source`` (``file``, ``pcap``, ``live`` or ``siprec``; existing calls get
``file``), ``calls.network`` (JSON: SIP Call-ID, user agents, answer and end times, end
reason and DTMF spans without their digits; null for imported files), and per leg
``legs.codec`` and ``legs.quality`` (JSON: packets, loss, jitter, longest gap, R, MOS).

Columns are added with ``ADD COLUMN`` only, for the reason given in 0005.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="file", nullable=False)
        )
        batch_op.add_column(sa.Column("network", sa.Text(), nullable=True))
    with op.batch_alter_table("legs", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("codec", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("quality", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, column in (
            ("legs", "quality"),
            ("legs", "codec"),
            ("calls", "network"),
            ("calls", "source"),
        ):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column("legs", "quality")
        op.drop_column("legs", "codec")
        op.drop_column("calls", "network")
        op.drop_column("calls", "source")
