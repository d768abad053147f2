"""one job per call at a time (issue 17)

Revision ID: 0016
Revises: 0015

Placeholder: filled in by the change that needs it.
"""

from __future__ import annotations

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
