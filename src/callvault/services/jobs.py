"""The job queue as the use cases see it: which tasks exist and how to run them here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from callvault import jobs
from callvault.config import Config
from callvault.jobs import JobRecord, JobStatus, Queue, TaskRegistry
from callvault.services import webhooks
from callvault.services._context import Context
from callvault.services.process import PROCESS_TASK, Progress, process_call
from callvault.vault import Vault

__all__ = [
    "enqueue_processing",
    "open_queue",
    "pending_jobs",
    "queue_missing_processing",
    "run_jobs",
    "task_registry",
]


def task_registry(ctx: Context) -> TaskRegistry:
    """Every task callvault runs, each job with `ctx`: the workers share its storage (no
    engine opened per job) and act as its principal."""

    def process(payload: Mapping[str, Any], progress: Progress) -> None:
        call_id = str(payload["call_id"])
        process_call(ctx, call_id, progress=progress)
        webhooks.publish(ctx.config, "call.processed", {"call_id": call_id})

    registry = TaskRegistry()
    registry.register(PROCESS_TASK, process)
    return registry


def open_queue(config: Config, vault: Vault) -> Queue:
    """The queue `config` names (`jobs.open_queue`), running callvault's tasks over
    `vault` as the operator (the worker's identity, never a request's principal)."""
    return jobs.open_queue(config, vault.engine, task_registry(Context(config, vault)))


def _process_key(recording_id: str) -> str:
    return f"process:{recording_id}"


def enqueue_processing(
    queue: Queue, call_id: str, recording_id: str, *, again: bool = False
) -> JobRecord:
    """Queue the transcription of a call; without `again`, once per recording.

    One job per call at a time, with or without `again`: while the call has a queued or
    running job, that job is returned and no second one is added (the database's partial
    unique index holds this against concurrent callers too). `callvault process` then
    follows that job, whose transcript is as new as a second job's would be."""
    return queue.enqueue(
        PROCESS_TASK,
        {"call_id": call_id},
        dedupe_key=None if again else _process_key(recording_id),
        call_id=call_id,
    )


def queue_missing_processing(ctx: Context, queue: Queue) -> list[JobRecord]:
    """Queue the transcription of every recording that has neither a transcript nor a job.

    Ingest stores a call and then queues its job in a second transaction; a crash between
    the two leaves a stored call that nothing would transcribe. This finds such calls. A
    recording whose job failed keeps that job (`jobs retry` runs it again), so a failing
    recording is not retried behind the user's back, and a call whose parties have not
    all consented to analysis is not queued.
    """
    vault = ctx.vault
    missing = vault.transcripts.untranscribed_recordings()
    known = queue.known_dedupe_keys([_process_key(rid) for _, rid in missing])
    return [
        enqueue_processing(queue, call_id, rid)
        for call_id, rid in missing
        if _process_key(rid) not in known and vault.consent.analysis_consented(call_id)
    ]


def pending_jobs(queue: Queue) -> list[JobRecord]:
    """Jobs queued or running, oldest first."""
    records = [
        record
        for status in (JobStatus.RUNNING, JobStatus.QUEUED)
        for record in queue.list_jobs(status=status)
    ]
    return sorted(records, key=lambda r: (r.created_at, r.id))


def run_jobs(
    ctx: Context,
    job_ids: Sequence[str],
    *,
    on_progress: Callable[[JobRecord], None] | None = None,
    timeout: float | None = None,
) -> list[JobRecord]:
    """Run workers in this process until the given jobs are done; return their records."""
    config = ctx.config
    vault = ctx.vault
    queue = open_queue(config, vault)
    with queue.workers(config.workers):
        return [queue.wait(job_id, timeout, on_progress) for job_id in job_ids]
