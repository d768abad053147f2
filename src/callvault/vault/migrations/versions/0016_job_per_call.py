"""one job per call at a time (issue 17)

Revision ID: 0016
Revises: 0015

Adds ``jobs.call_id``, the call a job works on (filled in from the payload of the jobs
already stored), and a partial unique index on ``(task, call_id)`` over the queued and
running jobs, so that two processes enqueueing at once cannot both add a job for one
call. Existing rows are tidied first, as the new code would have left them: an active
job of a call that no longer exists is cancelled; of several active jobs of one task
and call the running one (else the oldest) is kept and the others are cancelled; a
failed job followed by a successful one of the same task and call becomes
``superseded``. Downgrade turns ``superseded`` back into ``failed``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACTIVE = ("queued", "running")
WHERE = "status IN ('queued', 'running') AND call_id IS NOT NULL"
CALL_GONE = "Cancelled: its call was erased"

jobs = sa.table(
    "jobs",
    sa.column("id", sa.String()),
    sa.column("task", sa.String()),
    sa.column("payload", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("call_id", sa.String()),
    sa.column("locked_by", sa.String()),
    sa.column("last_error", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
)
calls = sa.table("calls", sa.column("id", sa.String()))


def _call_of(payload: str) -> str | None:
    try:
        document: Any = json.loads(payload)
    except ValueError:
        return None
    call_id = document.get("call_id") if isinstance(document, dict) else None
    return call_id if isinstance(call_id, str) and 0 < len(call_id) <= 32 else None


def _cancel(conn: sa.Connection, job_id: str, reason: str, now: datetime) -> None:
    conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            status="cancelled", locked_by=None, last_error=reason, updated_at=now, finished_at=now
        )
    )


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("call_id", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    now = datetime.now(UTC)
    for job_id, payload in conn.execute(sa.select(jobs.c.id, jobs.c.payload)).all():
        call_id = _call_of(payload)
        if call_id is not None:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(call_id=call_id))
    rows = conn.execute(
        sa.select(jobs.c.id, jobs.c.task, jobs.c.call_id, jobs.c.status, jobs.c.created_at)
        .where(jobs.c.call_id.is_not(None))
        .order_by(jobs.c.created_at, jobs.c.id)
    ).all()
    existing = {
        call_id
        for (call_id,) in conn.execute(
            sa.select(calls.c.id).where(calls.c.id.in_({r.call_id for r in rows}))
        )
    }
    kept: dict[tuple[str, str], Any] = {}
    for row in rows:
        if row.status not in ACTIVE:
            continue
        if row.call_id not in existing:
            _cancel(conn, row.id, CALL_GONE, now)
            continue
        key = (row.task, row.call_id)
        keeper = kept.get(key)
        if keeper is None or (row.status == "running" and keeper.status != "running"):
            if keeper is not None:
                _cancel(conn, keeper.id, f"Cancelled: job {row.id} of the same call runs", now)
            kept[key] = row
        else:
            _cancel(conn, row.id, f"Cancelled: job {keeper.id} of the same call was first", now)
    succeeded: dict[tuple[str, str], datetime] = {}
    for row in rows:
        if row.status == "succeeded":
            succeeded[(row.task, row.call_id)] = row.created_at  # the latest, rows are in order
    for row in rows:
        last = succeeded.get((row.task, row.call_id))
        if row.status == "failed" and last is not None and row.created_at <= last:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == row.id)
                .values(status="superseded", updated_at=now)
            )
    with op.batch_alter_table("jobs", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_jobs_call_id", ["call_id"], unique=False)
        batch_op.create_index(
            "uq_jobs_active_task_call",
            ["task", "call_id"],
            unique=True,
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("uq_jobs_active_task_call")
        batch_op.drop_index("ix_jobs_call_id")
    op.get_bind().execute(
        sa.update(jobs).where(jobs.c.status == "superseded").values(status="failed")
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("call_id")
