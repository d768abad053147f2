"""login throttling and account locks (issue 17)

Revision ID: 0015
Revises: 0014

Placeholder: filled in by the change that needs it.
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
