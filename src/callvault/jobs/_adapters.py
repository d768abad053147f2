"""Which queue runs the jobs, chosen by configuration (ARCHITECTURE.md, "Deployment shapes").

Only the embedded queue exists today; a distributed one (Celery) would be picked here, from
settings, and every consumer already holds a `Queue`, not an `EmbeddedQueue`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from callvault.config import Config
from callvault.jobs._base import Queue
from callvault.jobs._embedded import EmbeddedQueue
from callvault.jobs._registry import TaskRegistry

__all__ = ["open_queue"]


def open_queue(config: Config, engine: Engine, registry: TaskRegistry) -> Queue:
    """The queue `config` names, running the tasks of `registry`: the embedded queue, its
    jobs kept in the metadata database behind `engine`. `services.open_queue` passes the
    registry of callvault's tasks; the queue does not know what they do."""
    return EmbeddedQueue(engine, registry)
