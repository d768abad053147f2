"""a job's lost workers are counted apart from its attempts (issue 19)

Revision ID: 0017
Revises: 0016

Adds ``jobs.worker_losses``: how many times a worker died while running the job (killed,
a machine lost, no heartbeat within the lease). Such a run is given back instead of
counting as one of the job's attempts, which are for the task's own failures; a job
whose workers keep dying (a task that makes its worker run out of memory, say) fails
once it has lost ``callvault.jobs.MAX_WORKER_LOSSES`` of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("worker_losses", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE jobs DROP COLUMN worker_losses")
    else:
        op.drop_column("jobs", "worker_losses")
