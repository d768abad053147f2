"""The `jobs` table: the embedded queue's rows, declared on the vault's shared `Base`.

The table was created by the vault's migrations (0002, 0016) and stays in their history;
only its declaration lives here, beside the queue that reads and writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from callvault.vault import Base, UTCDateTime

__all__ = ["JOB_ACTIVE_WHERE", "JobRow"]

JOB_ACTIVE_WHERE = "status IN ('queued', 'running') AND call_id IS NOT NULL"


class JobRow(Base):
    """A durable job of the embedded queue (callvault.jobs); the task is named, not known."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Runs lost with their worker (migration 0017): given back, not counted as attempts.
    worker_losses: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress: Mapped[float | None] = mapped_column(Float)
    progress_message: Mapped[str | None] = mapped_column(String(256))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The call the job works on (migration 0016). No foreign key: the job outlives its
    # call's erasure, cancelled, as the record of what was not done.
    call_id: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (
        Index("ix_jobs_status_run_after", "status", "run_after"),
        # One queued or running job per task and call, so two processes that enqueue
        # at once cannot both add one (issue 17).
        Index(
            "uq_jobs_active_task_call",
            "task",
            "call_id",
            unique=True,
            sqlite_where=text(JOB_ACTIVE_WHERE),
            postgresql_where=text(JOB_ACTIVE_WHERE),
        ),
    )
