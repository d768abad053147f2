"""The job queue as the use cases see it: which tasks exist and how to run them here.

Jobs run at least once (a worker killed mid-job leaves its job to another), so every task
is idempotent: `process_call` stores once per run token (`enqueue_processing` draws one
per request), webhook deliveries carry an id derived from their event and are queued
once per id and URL (`webhooks.publish`), and a second retention run in one period finds
nothing left to erase. Tasks run in queues by resource class (`jobs.QUEUES`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from callvault import jobs
from callvault.config import Config
from callvault.jobs import JobRecord, JobStatus, Queue, TaskRegistry
from callvault.services import webhooks
from callvault.services._context import Context
from callvault.services.anchors import register_anchor_task
from callvault.services.live_retention import prune_live
from callvault.services.process import PROCESS_TASK, Progress, process_call
from callvault.services.retention import run_retention
from callvault.services.scorecards import check_rubric
from callvault.vault import Vault

__all__ = [
    "LEDGER_MIRROR_EVERY_S",
    "LEDGER_MIRROR_TASK",
    "LIVE_PRUNE_EVERY_S",
    "LIVE_PRUNE_TASK",
    "RETENTION_ACTOR",
    "RETENTION_EVERY_S",
    "RETENTION_TASK",
    "announce_erased",
    "enqueue_processing",
    "open_queue",
    "pending_jobs",
    "queue_missing_processing",
    "run_jobs",
    "task_registry",
]

RETENTION_TASK = "retention.run"
# Hourly: retention dates are days apart, and a run with nothing due costs one query and
# one audit entry. (A setting would belong in config.py; none exists yet.)
RETENTION_EVERY_S = 3600.0
RETENTION_ACTOR = "system:retention"
# The live board's rows of ended calls go `live_keep_minutes` after the end, give or take
# this period (issue 20).
LIVE_PRUNE_TASK = "live.prune"
LIVE_PRUNE_EVERY_S = 300.0
# Each erasure copies its ledger entry out when it commits; this catches up on a copy that
# failed (the place was down) (issue 21).
LEDGER_MIRROR_TASK = "ledger.mirror"
LEDGER_MIRROR_EVERY_S = 300.0


def task_registry(ctx: Context, queue: Callable[[], Queue] | None = None) -> TaskRegistry:
    """Every task callvault runs, each job with `ctx`: the workers share its storage (no
    engine opened per job) and act as its principal. `queue`: the queue the tasks add
    their follow-up jobs (webhook deliveries) to; default `ctx.queue`, else one opened
    over `ctx`'s storage."""

    def follow_ups() -> Queue:
        if queue is not None:
            return queue()
        return ctx.queue if ctx.queue is not None else open_queue(ctx.config, ctx.vault)

    def process(payload: Mapping[str, Any], progress: Progress) -> None:
        call_id = str(payload["call_id"])
        # A job queued before run tokens existed has none: it stores as before, and its
        # event gets an id of its own.
        run = payload.get("run")
        process_call(ctx, call_id, progress=progress, run=str(run) if run else None)
        source = str(run) if run else secrets.token_hex(8)
        webhooks.publish(ctx.config, follow_ups(), "call.processed", call_id, source=source)

    def deliver(payload: Mapping[str, Any], progress: Progress) -> None:
        webhooks.deliver_job(ctx.config, ctx.vault, payload)

    def retention(payload: Mapping[str, Any], progress: Progress) -> None:
        def hook(done: int, total: int) -> None:
            progress(done / total, "erasing expired calls")

        report = run_retention(ctx, actor=RETENTION_ACTOR, hook=hook)
        erased = report.erased_call_ids + _recently_erased(ctx)
        for call_id in dict.fromkeys(erased):
            webhooks.publish(ctx.config, follow_ups(), "call.erased", call_id)

    def prune(payload: Mapping[str, Any], progress: Progress) -> None:
        prune_live(ctx)

    def mirror(payload: Mapping[str, Any], progress: Progress) -> None:
        ctx.vault.mirror_ledger()

    check_rubric(ctx.config)  # a bad scorecard rubric stops the workers (fail closed)
    registry = TaskRegistry()
    registry.register(PROCESS_TASK, process, queue="asr")
    registry.register(webhooks.DELIVER_TASK, deliver, queue="webhooks")
    registry.register(RETENTION_TASK, retention, queue="maintenance")
    registry.every(RETENTION_TASK, RETENTION_EVERY_S)
    registry.register(LIVE_PRUNE_TASK, prune, queue="maintenance")
    registry.every(LIVE_PRUNE_TASK, LIVE_PRUNE_EVERY_S)
    register_anchor_task(registry, ctx)
    if ctx.vault.ledger_places():
        registry.register(LEDGER_MIRROR_TASK, mirror, queue="maintenance")
        registry.every(LEDGER_MIRROR_TASK, LEDGER_MIRROR_EVERY_S)
    return registry


def _recently_erased(ctx: Context, limit: int = 1000) -> list[str]:
    """Calls the retention task erased in its last two periods: an attempt killed between
    an erasure and queueing its `call.erased` leaves the next run to queue it (one
    job per delivery id: a call announced already is not announced twice)."""
    since = datetime.now(UTC) - timedelta(seconds=2 * RETENTION_EVERY_S)
    since_at = since.isoformat(timespec="microseconds")  # as the audit chain writes it
    entries, _ = ctx.vault.audit_page(limit=limit, action="retention.erase")
    return [
        e.object_id
        for e in reversed(entries)
        if e.actor == RETENTION_ACTOR and e.object_id and e.at >= since_at
    ]


def open_queue(config: Config, vault: Vault) -> Queue:
    """The queue `config` names (`jobs.open_queue`), running callvault's tasks over
    `vault` as the operator (the worker's identity, never a request's principal); the
    tasks queue their follow-up jobs on it."""
    opened: list[Queue] = []
    registry = task_registry(Context(config, vault), queue=lambda: opened[0])
    opened.append(jobs.open_queue(config, vault.engine, registry))
    return opened[0]


def announce_erased(ctx: Context, call_ids: Sequence[str]) -> list[JobRecord]:
    """Queue `call.erased` for each erased call to the configured webhook URLs (none set:
    nothing), delivered by the workers; what an erasure through the API calls."""
    queue = ctx.queue if ctx.queue is not None else open_queue(ctx.config, ctx.vault)
    return [
        job
        for call_id in call_ids
        for job in webhooks.publish(ctx.config, queue, "call.erased", call_id)
    ]


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
        # The run token: a second attempt of this job stores nothing twice (`process_call`).
        {"call_id": call_id, "run": secrets.token_hex(8)},
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
