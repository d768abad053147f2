"""call metadata under signature (issue 17)

Revision ID: 0014
Revises: 0013

Adds the table ``call_signatures``: one row per call, the signed digests of every field
that decides who may read the call (its agent and the agent's team, participants, legs,
consent state and per-call consents, retention, legal holds, restrictions; see
``callvault.vault._callsig``). ``body`` holds keyed digests of those values, never the
values themselves; ``signature`` is the vault's Ed25519 signature of ``body``. The row
goes with its call (ON DELETE CASCADE).

A migration has no signing key: each call stored before this revision gets a row whose
``version`` is ``pending``, and the vault signs those the next time it is opened (one
``vault.metadata-sign`` audit entry naming the calls; docs/security.md). A call with no
row at all is a fault of ``callvault verify``. Downgrading drops the table; upgrading
again marks every call pending once more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_signatures",
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_signatures_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_call_signatures")),
    )
    op.execute(
        "INSERT INTO call_signatures (call_id, version, body, signature, key_id, signed_at) "
        "SELECT id, 'pending', '', '', '', CURRENT_TIMESTAMP FROM calls"
    )


def downgrade() -> None:
    op.drop_table("call_signatures")
