"""The durable job queue: named tasks, jobs persisted in the database, in-process workers.

Tasks are plain functions `task(payload, progress)` registered by name in a `TaskRegistry`;
they know nothing about the queue, so the same functions can run under another `Queue`
implementation later. `open_queue` picks the queue the configuration names; consumers
hold a `Queue`, never an implementation. `EmbeddedQueue` keeps jobs in the `jobs` table
and resumes jobs left running by a crashed process (`recover_stale`).
"""

from callvault.jobs._adapters import open_queue
from callvault.jobs._base import Queue, Workers
from callvault.jobs._cancel import cancel_jobs_of
from callvault.jobs._embedded import EmbeddedQueue, make_worker_id
from callvault.jobs._records import JobRecord, JobStatus
from callvault.jobs._registry import (
    DEFAULT_QUEUE,
    QUEUES,
    PeriodicTask,
    Progress,
    TaskFunction,
    TaskRegistry,
)
from callvault.jobs._worker import Worker, WorkerPool

__all__ = [
    "DEFAULT_QUEUE",
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
