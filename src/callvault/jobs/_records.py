"""The records the job queue hands out: one job, as stored, at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ACTIVE",
    "CALL_GONE",
    "MAX_WORKER_LOSSES",
    "JobRecord",
    "JobStatus",
    "call_gone_values",
    "worker_lost_values",
]


class JobStatus(StrEnum):
    """Where a job is in its life. `succeeded`, `failed`, `cancelled` and `superseded` are
    final. A failed job becomes `superseded` once a later job of the same task for the
    same call succeeded: the failure is history, not a fault still open (issue 17)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def done(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SUPERSEDED}
)
ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
"""The states in which a job holds its call: one such job per task and call at a time."""

CALL_GONE = "Cancelled: its call was erased"
"""Why a job of an erased call ended (its payload names the call; this need not)."""


def call_gone_values(now: datetime) -> dict[str, Any]:
    """The column values of a queued or running job cancelled because its call is gone
    (the erasure's own transaction, or a worker that finds the call gone)."""
    return {
        "status": JobStatus.CANCELLED.value,
        "locked_by": None,
        "last_error": CALL_GONE,
        "updated_at": now,
        "finished_at": now,
    }


MAX_WORKER_LOSSES = 10
"""Workers a job may lose (killed, machine gone, no heartbeat) before it fails: a lost run
is given back, not counted as an attempt, unless the job keeps killing its workers."""


def worker_lost_values(
    attempts: int, losses: int, now: datetime, why: str, *, max_losses: int = MAX_WORKER_LOSSES
) -> dict[str, Any]:
    """The row values of a running job whose worker is gone: queued again with the lost
    attempt given back (being killed is not the task's failure), or failed once it has
    lost `max_losses` workers."""
    lost = losses + 1
    error = f"WorkerLost: the worker stopped during attempt {attempts} ({why}; lost {lost})"
    values: dict[str, Any] = {
        "locked_by": None,
        "updated_at": now,
        "last_error": error,
        "worker_losses": lost,
    }
    if lost >= max_losses:
        values.update(
            status=JobStatus.FAILED.value,
            finished_at=now,
            last_error=f"{error}: it keeps losing its workers (out of memory?); see the "
            "worker logs, then `callvault jobs retry`",
        )
    else:
        values.update(status=JobStatus.QUEUED.value, run_after=now, attempts=max(0, attempts - 1))
    return values


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class JobRecord:
    """One job as stored. `attempts` counts the times a worker started it, so a job that
    kills its worker every time still ends `failed` after `max_attempts` starts.
    `call_id` is the call the job works on, when it works on one: the queue keeps one
    queued or running job per task and call, and cancels a job whose call is gone."""

    id: str
    task: str
    payload: Mapping[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    progress: float | None
    progress_message: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    call_id: str | None = None

    @property
    def done(self) -> bool:
        return self.status.done

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "payload": dict(self.payload),
            "call_id": self.call_id,
            "status": self.status.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "run_after": _iso(self.run_after),
            "progress": self.progress,
            "progress_message": self.progress_message,
            "last_error": self.last_error,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "finished_at": _iso(self.finished_at),
        }
