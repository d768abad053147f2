"""the live board: calls in progress, their events and alerts (issue 20)

Revision ID: 0019
Revises: 0018

Adds ``live_calls`` (a call being monitored: source, a display label that is not
personal data, roles per channel, agent and team, start and end, the stored call once
known), ``live_events`` (its partial and final words, alerts, acknowledgements, opening
and closing, numbered board-wide; the words sealed under the board key, never clear
text), ``live_alerts`` (rule, kind, severity, leg, call time, confidence, the sealed
triggering words, who acknowledged it and when), ``live_cursor`` (the board's last
event number, one row) and ``live_alert_counts`` (alerts per rule, never pruned: the
metrics' counter). Rows of calls that ended are pruned after ``live_keep_minutes``.

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_calls")),
    )
    op.create_index(op.f("ix_live_calls_agent"), "live_calls", ["agent"], unique=False)
    op.create_index(op.f("ix_live_calls_ended_at"), "live_calls", ["ended_at"], unique=False)
    op.create_table(
        "live_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("live_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=True),
        sa.Column("call_time", sa.Float(), nullable=True),
        sa.Column("alert_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["live_id"],
            ["live_calls.id"],
            name=op.f("fk_live_events_live_id_live_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_live_events")),
    )
    op.create_index(op.f("ix_live_events_live_id"), "live_events", ["live_id"], unique=False)
    op.create_table(
        "live_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("live_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=True),
        sa.Column("call_time", sa.Float(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["live_id"],
            ["live_calls.id"],
            name=op.f("fk_live_alerts_live_id_live_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_alerts")),
    )
    op.create_index(op.f("ix_live_alerts_live_id"), "live_alerts", ["live_id"], unique=False)
    op.create_table(
        "live_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_cursor")),
    )
    op.execute("INSERT INTO live_cursor (id, last_seq) VALUES (1, 0)")
    op.create_table(
        "live_alert_counts",
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_live_alert_counts")),
    )


def downgrade() -> None:
    op.drop_table("live_alert_counts")
    op.drop_table("live_cursor")
    op.drop_index(op.f("ix_live_alerts_live_id"), table_name="live_alerts")
    op.drop_table("live_alerts")
    op.drop_index(op.f("ix_live_events_live_id"), table_name="live_events")
    op.drop_table("live_events")
    op.drop_index(op.f("ix_live_calls_ended_at"), table_name="live_calls")
    op.drop_index(op.f("ix_live_calls_agent"), table_name="live_calls")
    op.drop_table("live_calls")
