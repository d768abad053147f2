"""`callvault worker`: a process that only runs jobs (issue 19).

With a Celery broker (`CALLVAULT_QUEUE=redis://...` or `amqp://...`) it is a Celery worker
for some of the queues (`asr`, `analysis`, `redaction`, `webhooks`, `maintenance`), so
speech recognition can live on bigger machines than webhook delivery. With the embedded
queue it runs the embedded worker threads in the foreground, for every queue: a process
of its own for the jobs, next to a `callvault serve` started with no workers of its own
(the database is the queue both share).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from callvault import jobs
from callvault.config import Config
from callvault.errors import InputError
from callvault.jobs import QUEUES, TaskRegistry
from callvault.services._context import Context, open_context
from callvault.services.jobs import task_registry

if TYPE_CHECKING:  # Celery is imported only by a process that runs it
    from callvault.jobs import CeleryQueue

__all__ = ["QUEUES", "TaskSource", "load_task_source", "parse_queues", "run_worker"]

log = logging.getLogger("callvault.services")

TaskSource = Callable[[Context], TaskRegistry]
"""Builds the tasks a worker runs from its context; `services.jobs.task_registry` unless
a test or plugin names another (`callvault worker --tasks MODULE:FUNCTION`)."""


def parse_queues(text: str | None) -> tuple[str, ...]:
    """`asr,analysis` as queue names; None or empty means every queue. `InputError` for a
    name that is not one of `QUEUES`."""
    if not text or not text.strip():
        return QUEUES
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in QUEUES]
    if unknown or not names:
        raise InputError(
            f"unknown queue(s) {', '.join(unknown)}; use some of {', '.join(QUEUES)}, "
            "separated by commas"
        )
    return names


def load_task_source(spec: str) -> TaskSource:
    """The function `MODULE:FUNCTION` names, which takes a `Context` and returns the
    `TaskRegistry` a worker runs (tests and plugins)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--tasks {spec!r}: expected MODULE:FUNCTION")
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(
            f"--tasks {spec!r}: cannot load it ({type(exc).__name__}); check the module is "
            "on PYTHONPATH and defines the function"
        ) from None
    if not callable(found):
        raise InputError(f"--tasks {spec!r} is not a function")
    return found  # type: ignore[no-any-return]


def run_worker(
    config: Config,
    queues: Sequence[str] = QUEUES,
    concurrency: int | None = None,
    *,
    loglevel: str = "INFO",
    tasks: TaskSource = task_registry,
    pool: str = "prefork",
) -> int:
    """Run jobs in the foreground until SIGTERM (running jobs finish first) or SIGINT;
    returns the exit code. `concurrency`: pool processes (Celery) or threads (embedded);
    default `config.workers`."""
    names = parse_queues(",".join(queues))
    n = concurrency if concurrency is not None else config.workers
    if n < 1:
        raise InputError(f"--concurrency must be at least 1, not {n}")
    if config.queue == "embedded":
        return _run_embedded(config, names, n, tasks)
    stack = contextlib.ExitStack()

    def open_process_queue() -> CeleryQueue:
        # Called once in this process and once in each pool process after the fork: each
        # opens its own storage (engines and key handles never cross a fork).
        ctx = stack.enter_context(open_context(config))
        queue = jobs.open_queue(config, ctx.vault.engine, tasks(ctx))
        if not isinstance(queue, jobs.CeleryQueue):
            raise InputError("CALLVAULT_QUEUE names no Celery broker")
        return queue

    with stack:
        return jobs.run_celery_worker(
            open_process_queue, queues=names, concurrency=n, loglevel=loglevel, pool=pool
        )


def _run_embedded(config: Config, names: Sequence[str], n: int, tasks: TaskSource) -> int:
    if tuple(names) != QUEUES:
        log.warning("the embedded queue runs every queue; --queues is ignored")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_context(config) as ctx:
            queue = jobs.open_queue(config, ctx.vault.engine, tasks(ctx))
            with queue.workers(n, periodic=True):
                log.info("embedded worker running %d thread(s)", n)
                stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
