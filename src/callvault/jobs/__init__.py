"""The durable job queue: named tasks, jobs persisted in the database, in-process workers.

Tasks are plain functions `task(payload, progress)` registered by name in a `TaskRegistry`;
they know nothing about the queue, so the same functions can run under another `Queue`
implementation later. `open_queue` picks the queue the configuration names; consumers
hold a `Queue`, never an implementation. `EmbeddedQueue` keeps jobs in the `jobs` table
and resumes jobs left running by a crashed process (`recover_stale`); `CeleryQueue` keeps
the same ledger and wakes Celery workers through a broker (issue 19). Celery is imported
only by a process that uses one of its names.
"""

from typing import TYPE_CHECKING, Any

from callvault.jobs._adapters import open_queue
from callvault.jobs._base import Queue, Workers
from callvault.jobs._cancel import cancel_jobs_of
from callvault.jobs._embedded import EmbeddedQueue, make_worker_id
from callvault.jobs._records import MAX_WORKER_LOSSES, JobRecord, JobStatus
from callvault.jobs._registry import (
    DEFAULT_QUEUE,
    QUEUES,
    PeriodicTask,
    Progress,
    TaskFunction,
    TaskRegistry,
)
from callvault.jobs._sweep import Sweeper, enqueue_due_periodic, periodic_key
from callvault.jobs._worker import Worker, WorkerPool

if TYPE_CHECKING:
    from callvault.jobs._celery import (
        RUN_JOB,
        CeleryQueue,
        broker_queue,
        celery_app,
        run_celery_worker,
        use_worker_queue,
    )

_CELERY_NAMES = (
    "RUN_JOB",
    "CeleryQueue",
    "broker_queue",
    "celery_app",
    "run_celery_worker",
    "use_worker_queue",
)


def __getattr__(name: str) -> Any:
    if name in _CELERY_NAMES:
        from callvault.jobs import _celery

        return getattr(_celery, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_WORKER_LOSSES",
    "DEFAULT_QUEUE",
    "RUN_JOB",
    "CeleryQueue",
    "Sweeper",
    "broker_queue",
    "celery_app",
    "enqueue_due_periodic",
    "periodic_key",
    "run_celery_worker",
    "use_worker_queue",
    "QUEUES",
    "PeriodicTask",
    "EmbeddedQueue",
    "JobRecord",
    "JobStatus",
    "Progress",
    "Queue",
    "TaskFunction",
    "TaskRegistry",
    "Worker",
    "WorkerPool",
    "Workers",
    "cancel_jobs_of",
    "make_worker_id",
    "open_queue",
]
