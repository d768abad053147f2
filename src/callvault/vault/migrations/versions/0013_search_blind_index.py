"""the search index keeps no words in the clear (issue 17)

Revision ID: 0013
Revises: 0012

Placeholder: filled in by the change that needs it.
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
