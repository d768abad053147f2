"""The job queue as the edges drive it: list and follow jobs, retry one, queue a call's
processing again, run the in-process workers. The queue is the context's, or the
embedded one over the context's storage."""

from __future__ import annotations

from callvault.jobs import JobRecord, JobStatus, Queue, Workers
from callvault.services._context import Context
from callvault.services.jobs import enqueue_processing, open_queue, pending_jobs
from callvault.services.jobs import queue_missing_processing as _queue_missing

__all__ = [
    "JobRecord",
    "JobStatus",
    "get_job",
    "list_jobs",
    "queue_missing",
    "reprocess_call",
    "retry_job",
    "job_counts",
    "start_workers",
]


def queue_of(ctx: Context) -> Queue:
    return ctx.queue if ctx.queue is not None else open_queue(ctx.config, ctx.vault)


def list_jobs(
    ctx: Context, *, status: JobStatus | str | None = None, limit: int | None = None
) -> list[JobRecord]:
    """Jobs, newest first."""
    return queue_of(ctx).list_jobs(status=status, limit=limit)


def get_job(ctx: Context, job_id: str) -> JobRecord:
    """One job's record (NotFound when there is none)."""
    return queue_of(ctx).get(job_id)


def retry_job(ctx: Context, job_id: str) -> JobRecord:
    """Queue a failed job again."""
    return queue_of(ctx).retry(job_id)


def reprocess_call(ctx: Context, call_id: str) -> JobRecord:
    """Queue the transcription of a call again (or the job it already has queued)."""
    recording_id = ctx.vault.calls.get_call(call_id, purpose="processing").recording.id
    return enqueue_processing(open_queue(ctx.config, ctx.vault), call_id, recording_id, again=True)


def queue_missing(ctx: Context) -> tuple[list[JobRecord], list[JobRecord]]:
    """Queue what a crash left unqueued and take back jobs whose worker died; return
    (the jobs added, every job now queued or running)."""
    queue = open_queue(ctx.config, ctx.vault)
    added = _queue_missing(ctx, queue)
    queue.recover_stale()
    return added, pending_jobs(queue)


def job_counts(ctx: Context) -> dict[str, int]:
    """How many jobs there are of each status (the metrics' gauge)."""
    return queue_of(ctx).counts()


def start_workers(ctx: Context, *, nice: int = 0) -> Workers:
    """Start `config.workers` job threads in this process, after queueing what a crash
    left unqueued; stop them with the pool's `stop()`."""
    queue = open_queue(ctx.config, ctx.vault)
    _queue_missing(ctx, queue)
    pool = queue.workers(ctx.config.workers, nice=nice, periodic=True)
    pool.start()
    return pool
