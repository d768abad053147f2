"""Jobs on Celery (issue 19): the database stays the ledger, the broker carries wake-ups.

A `CeleryQueue` keeps every job in the `jobs` table exactly as the embedded queue does
(status, attempts, progress, failure), so `jobs list/retry`, the API and the web app see
the same thing with either queue. After the commit that queues a job it publishes
`callvault.run_job(job_id)` to the Celery queue of the job's task (`callvault.asr`, ...).
A worker that receives it claims that job by id (`claim_job`): a duplicate or late
wake-up finds the job running, done or not yet due and is dropped, so delivery may be
at-least-once while every job runs once per attempt.

When the broker is down, publishing fails, is logged and is swallowed: the job is durably
queued in the database, and the sweep of any worker process (`republish_waiting`) sends
it once the broker is back. Messages are acknowledged late and given back when a worker
process dies (`task_reject_on_worker_lost`); with Redis, a message not acknowledged within
the visibility timeout (`VISIBILITY_LEASES` job leases) is delivered again. The job itself
is taken back from a dead worker by its lease, as in the embedded queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from celery import Celery, signals  # type: ignore[import-untyped]
from kombu.entity import Queue as BrokerQueue
from sqlalchemy import Engine, exists, select, update

from callvault.errors import InputError, NotFound
from callvault.jobs._base import Workers
from callvault.jobs._embedded import (
    _CALLS,
    _T,
    Clock,
    EmbeddedQueue,
    _local_worker_gone,
    _utcnow,
    make_worker_id,
)
from callvault.jobs._records import JobRecord, JobStatus, call_gone_values, worker_lost_values
from callvault.jobs._registry import DEFAULT_QUEUE, QUEUES, TaskRegistry
from callvault.jobs._sweep import Sweeper

__all__ = [
    "RUN_JOB",
    "VISIBILITY_LEASES",
    "CeleryQueue",
    "broker_queue",
    "celery_app",
    "run_celery_worker",
    "use_worker_queue",
]

log = logging.getLogger("callvault.jobs")

RUN_JOB = "callvault.run_job"
"""The one Celery task: wake up and run the job whose id it carries."""
VISIBILITY_LEASES = 4
"""Redis gives an unacknowledged message to another worker after this many job leases."""
REPUBLISH_BATCH = 500

QueueFactory = Callable[[], "CeleryQueue"]


def broker_queue(queue: str, namespace: str = "callvault") -> str:
    """The broker's name for callvault queue `queue` (`callvault.asr`)."""
    return f"{namespace}.{queue}"


_apps: dict[tuple[str, str, float, int], Celery] = {}
_apps_lock = threading.Lock()


def celery_app(broker: str, *, namespace: str = "callvault", lease: float = 60.0) -> Celery:
    """The Celery app of this process for `broker`, built once per process (connections
    must not cross a fork). No result backend: the database is the ledger."""
    key = (broker, namespace, lease, os.getpid())
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = _make_app(broker, namespace, lease)
        return app


def _make_app(broker: str, namespace: str, lease: float) -> Celery:
    app = Celery(namespace, broker=broker, set_as_current=False)
    names = [broker_queue(q, namespace) for q in QUEUES]
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_LEASES * lease,
            # Publishing gives up after one quick retry: an enqueue must not wait on a
            # broker that is down (the database holds the job; the sweep sends it later).
            # The worker's consumer reconnects on its own schedule.
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        task_queues=[
            BrokerQueue(name, routing_key=name)  # type: ignore[no-untyped-call]
            for name in names
        ],
        task_default_queue=broker_queue(DEFAULT_QUEUE, namespace),
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # A job already holds its lease in the database; cancelling it on a lost broker
        # connection would only lose work.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )

    # Not shared: each app (one per broker and process) has its own task object.
    app.task(name=RUN_JOB, ignore_result=True, shared=False)(_run_job)
    return app


def _run_job(job_id: str) -> None:
    _worker_queue().run_job(job_id)


class CeleryQueue(EmbeddedQueue):
    """The embedded queue's ledger, with jobs run by Celery workers (`callvault worker`).

    `republish_after`: seconds a due queued job may wait before its wake-up is sent again
    (lost, or never sent while the broker was down); default: the lease."""

    def __init__(
        self,
        engine: Engine,
        registry: TaskRegistry,
        broker: str,
        *,
        namespace: str = "callvault",
        clock: Clock = _utcnow,
        lease: float = 60.0,
        republish_after: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(engine, registry, clock=clock, lease=lease, **options)
        self.broker = broker
        self.namespace = namespace
        self.republish_after = lease if republish_after is None else republish_after
        self.app = celery_app(broker, namespace=namespace, lease=lease)

    # -- publishing ----------------------------------------------------------------------

    def _queued(self, jobs: Sequence[tuple[JobRecord, float]]) -> None:
        for job, delay in jobs:
            self.publish(job, delay)

    def publish(self, job: JobRecord, delay: float = 0.0) -> bool:
        """Send the wake-up of `job`, due in `delay` seconds; False when the broker could
        not take it (the job stays queued in the database for the sweep)."""
        try:
            queue = self.registry.queue_of(job.task)
        except NotFound:
            queue = DEFAULT_QUEUE  # the workers fail an unknown task; do not leave it queued
        name = broker_queue(queue, self.namespace)
        try:
            self.app.send_task(
                RUN_JOB,
                args=[job.id],
                queue=name,
                routing_key=name,
                countdown=delay if delay > 0 else None,
                retry=False,
                ignore_result=True,
            )
        except Exception as exc:  # noqa: BLE001 - any broker failure; the database holds the job
            log.warning(
                "job %s: wake-up not sent, broker unreachable (%s); the job waits in the "
                "database and is sent again by the sweep",
                job.id,
                type(exc).__name__,
            )
            return False
        return True

    def republish_waiting(self, older_than: float | None = None) -> int:
        """Send again the wake-ups of due queued jobs untouched for `older_than` seconds
        (default `republish_after`); each sent one is touched, so it waits as long again
        before the next. Returns how many were sent; stops at the first broker failure."""
        now = self.clock()
        limit = now - timedelta(seconds=self.republish_after if older_than is None else older_than)
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(_T.c.id)
                    .where(
                        _T.c.status == JobStatus.QUEUED.value,
                        _T.c.run_after <= now,
                        _T.c.updated_at <= limit,
                    )
                    .order_by(_T.c.run_after, _T.c.id)
                    .limit(REPUBLISH_BATCH)
                )
                .scalars()
                .all()
            )
            jobs = [self._get(conn, job_id) for job_id in ids]
        sent = []
        for job in jobs:
            if not self.publish(job):
                break
            sent.append(job.id)
        if sent:
            with self._writer.begin() as conn:
                conn.execute(
                    update(_T)
                    .where(_T.c.id.in_(sent), _T.c.status == JobStatus.QUEUED.value)
                    .values(updated_at=now)
                )
            log.info("sent the wake-ups of %d waiting job(s) again", len(sent))
        return len(sent)

    # -- the worker side -----------------------------------------------------------------

    def claim_job(self, job_id: str, worker_id: str) -> JobRecord | None:
        """Take job `job_id` for `worker_id` when it is queued and due, or running for a
        worker that is gone (process dead here, or no heartbeat within the lease: the
        lost run is given back, and a job that lost `MAX_WORKER_LOSSES` workers fails).
        None otherwise: running elsewhere, done, cancelled, not due, or unknown; the
        wake-up is then dropped."""
        now = self.clock()
        limit = now - timedelta(seconds=self.lease)
        due = _T.c.run_after <= now
        stale = _T.c.heartbeat_at.is_(None) | (_T.c.heartbeat_at < limit)
        call_gone = _T.c.call_id.is_not(None) & ~exists().where(_CALLS.c.id == _T.c.call_id)
        with self._writer.begin() as conn:
            row = conn.execute(
                select(
                    _T.c.status,
                    _T.c.locked_by,
                    _T.c.attempts,
                    _T.c.worker_losses,
                    due,
                    stale,
                    call_gone,
                )
                .where(_T.c.id == job_id)
                .with_for_update(skip_locked=True, of=_T)
            ).first()
            if row is None:
                return None  # unknown, or another worker is claiming it right now
            status, worker, attempts, losses, is_due, is_stale, is_gone = row
            values: dict[str, Any] = {}
            if status == JobStatus.RUNNING.value:
                if not is_stale and not _local_worker_gone(worker):
                    return None
                why = "no heartbeat within the lease" if is_stale else "its worker process is gone"
                log.warning("job %s: recovered from a lost worker (%s)", job_id, why)
                values = worker_lost_values(attempts, losses, now, why)
                if values["status"] == JobStatus.FAILED.value:
                    conn.execute(update(_T).where(_T.c.id == job_id).values(**values))
                    return None
                values = {
                    "last_error": values["last_error"],
                    "worker_losses": values["worker_losses"],
                    "attempts": values["attempts"] + 1,
                }
            elif status != JobStatus.QUEUED.value or not is_due:
                return None
            if is_gone:
                conn.execute(update(_T).where(_T.c.id == job_id).values(**call_gone_values(now)))
                log.info("job %s: cancelled, its call is gone", job_id)
                return None
            return self._take(conn, job_id, worker_id, now, **values)

    def run_job(self, job_id: str) -> JobRecord | None:
        """What a wake-up does: claim `job_id` and run it here; None when it was not ours
        to run (a duplicate or late message)."""
        worker_id = make_worker_id("celery")
        job = self.claim_job(job_id, worker_id)
        if job is None:
            log.debug("job %s: wake-up dropped, nothing to run", job_id)
            return None
        return self.execute(job, worker_id)

    def workers(self, n_threads: int = 2, *, nice: int = 0, periodic: bool = False) -> Workers:
        """Jobs run on the Celery workers; this process only sweeps (recovery, periodic
        tasks, wake-ups that were not sent)."""
        return SweepOnly(self, periodic=periodic)

    def sweeper(self, interval: float | None = None, *, periodic: bool = True) -> Sweeper:
        return Sweeper(self, interval=interval, steps=(self.republish_waiting,), periodic=periodic)


class SweepOnly(Workers):
    """The `Workers` of a process that publishes to Celery: the sweep, no job threads."""

    _told = False

    def __init__(self, queue: CeleryQueue, *, periodic: bool = False) -> None:
        self.queue = queue
        self._sweeper = queue.sweeper(periodic=periodic)

    def start(self) -> None:
        if not SweepOnly._told:
            SweepOnly._told = True
            log.info("jobs run on Celery workers (callvault worker); this process only sweeps")
        self._sweeper.start()

    def stop(self, timeout: float | None = None) -> None:
        self._sweeper.stop(timeout)


# -- the worker process --------------------------------------------------------------------

_factory: QueueFactory | None = None
_local: dict[int, CeleryQueue] = {}
_local_lock = threading.Lock()


def _worker_queue() -> CeleryQueue:
    """This process's queue, built on first use after a fork (an engine must never be
    shared by a parent and its child)."""
    pid = os.getpid()
    with _local_lock:
        queue = _local.get(pid)
        if queue is None:
            if _factory is None:
                raise InputError(
                    f"{RUN_JOB} ran in a process that is not a callvault worker; start "
                    "workers with `callvault worker`"
                )
            queue = _local[pid] = _factory()
        return queue


def use_worker_queue(factory: QueueFactory) -> None:
    """Make `factory` open the queue that `callvault.run_job` uses in this process and in
    the pool processes it forks (`run_celery_worker` does this; so may a test that runs a
    worker on a thread). Forgets the queue this process opened before."""
    global _factory
    with _local_lock:
        _factory = factory
        _local.pop(os.getpid(), None)


def _after_fork(**_: object) -> None:
    # The parent's engines came along with the fork: let go of their connections
    # without closing them (they are the parent's), as SQLAlchemy asks after a fork.
    for pid, queue in list(_local.items()):
        if pid != os.getpid():
            queue.engine.dispose(close=False)


def run_celery_worker(
    factory: QueueFactory,
    *,
    queues: Sequence[str] = QUEUES,
    concurrency: int = 1,
    loglevel: str = "INFO",
    pool: str = "prefork",
) -> int:
    """Run a Celery worker for `queues` in the foreground until SIGTERM (warm shutdown:
    running jobs finish) or SIGINT; returns its exit code. `factory` opens the queue of a
    process: once in this one, for the sweep, and once in each pool process."""
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise InputError(
            f"unknown queue(s) {', '.join(unknown) or '(none)'}; use some of {', '.join(QUEUES)}"
        )
    use_worker_queue(factory)
    main = _worker_queue()
    sweeper = main.sweeper()
    signals.worker_process_init.connect(_after_fork, weak=False)
    signals.worker_ready.connect(lambda **_: sweeper.start(), weak=False)
    signals.worker_shutdown.connect(lambda **_: sweeper.stop(), weak=False)
    worker = main.app.Worker(
        hostname=f"callvault{os.getpid()}@{socket.gethostname()}",
        queues=[broker_queue(q, main.namespace) for q in queues],
        concurrency=concurrency,
        pool=pool,
        loglevel=loglevel,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        optimization="fair",
    )
    # Celery warns on every lost broker connection that cancelling running tasks will be
    # its default one day; callvault keeps them running on purpose (the job holds its
    # lease in the database), so the warning says nothing to an operator. Set after the
    # worker's logging set-up, which turns Celery's warnings to "always".
    warnings.filterwarnings(
        "ignore", message=r"(?s).*worker_cancel_long_running_tasks_on_connection_loss"
    )
    worker.start()
    return int(worker.exitcode or 0)
