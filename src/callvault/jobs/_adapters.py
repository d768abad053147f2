"""Which queue runs the jobs, chosen by configuration (ARCHITECTURE.md, "Deployment shapes").

`CALLVAULT_QUEUE=embedded` keeps the jobs in the database and runs them on threads of each
callvault process; a Celery broker URL keeps the same ledger and runs them on `callvault
worker` processes. Every consumer holds a `Queue`, not an implementation.
"""

from __future__ import annotations

from sqlalchemy import Engine

from callvault.config import QUEUE_SCHEMES, Config
from callvault.errors import ConfigError
from callvault.jobs._base import Queue
from callvault.jobs._embedded import EmbeddedQueue
from callvault.jobs._registry import TaskRegistry

__all__ = ["open_queue"]


def open_queue(config: Config, engine: Engine, registry: TaskRegistry) -> Queue:
    """The queue `config` names, running the tasks of `registry`, its jobs kept in the
    metadata database behind `engine`. `services.open_queue` passes the registry of
    callvault's tasks; the queue does not know what they do."""
    name = config.queue
    if name == "embedded":
        return EmbeddedQueue(engine, registry, lease=config.job_lease)
    scheme = name.partition("://")[0].lower()
    if scheme in QUEUE_SCHEMES and "://" in name:
        # Imported when used: a process on the embedded queue never loads Celery.
        from callvault.jobs._celery import CeleryQueue

        return CeleryQueue(engine, registry, name, lease=config.job_lease)
    raise ConfigError(
        "CALLVAULT_QUEUE must be 'embedded' or a broker URL starting with "
        + ", ".join(f"{s}://" for s in QUEUE_SCHEMES)
    )
