"""In-process workers: threads that poll the embedded queue and run what they claim."""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy import exc as sa_exc

from callvault.errors import InputError
from callvault.jobs._base import Workers
from callvault.jobs._embedded import EmbeddedQueue, make_worker_id
from callvault.jobs._sweep import Sweeper

__all__ = ["Worker", "WorkerPool"]

log = logging.getLogger("callvault.jobs")


class Worker:
    """One thread that runs jobs until stopped. A task's exception fails its job, never
    the worker; a database hiccup is logged and retried after `poll_interval`."""

    def __init__(
        self,
        queue: EmbeddedQueue,
        *,
        worker_id: str | None = None,
        poll_interval: float = 0.2,
        stop_event: threading.Event | None = None,
        nice: int = 0,
    ) -> None:
        self.queue = queue
        self.worker_id = worker_id or make_worker_id()
        self.poll_interval = poll_interval
        self.nice = nice
        self._stop = stop_event or threading.Event()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        if self._thread is not None:
            raise InputError(f"worker {self.worker_id} is already started")
        self._thread = threading.Thread(
            target=self._loop, name=f"callvault-worker-{self.worker_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to stop after its current job and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        if self.nice:
            _lower_priority(self.nice)
        while not self._stop.is_set():
            self._busy.set()
            try:
                ran = self.queue.run_one(self.worker_id) is not None
            except sa_exc.SQLAlchemyError as exc:
                log.warning("worker %s: database error %s", self.worker_id, type(exc).__name__)
                ran = False
            finally:
                self._busy.clear()
            if not ran:
                self._stop.wait(self.poll_interval)


def _lower_priority(nice: int) -> None:
    """Make this thread (and the threads it starts later, such as the speech model's)
    yield the CPU to the rest of the process: on Linux a thread has its own nice value."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as it is
        log.info("worker priority left as it is: %s", type(exc).__name__)


class WorkerPool(Workers):
    """`n_threads` workers of the embedded queue plus a janitor (`Sweeper`) that calls
    `recover_stale` (and, with `periodic`, enqueues the due periodic tasks) at start and every
    `recover_interval` seconds (default: half the queue's lease). Use as a context manager,
    or `start()` / `stop()`; `EmbeddedQueue.workers` makes one."""

    def __init__(
        self,
        queue: EmbeddedQueue,
        n_threads: int = 2,
        *,
        poll_interval: float = 0.2,
        recover_interval: float | None = None,
        nice: int = 0,
        periodic: bool = False,
    ) -> None:
        """`nice`: how much lower the workers' CPU priority is than the process's (a
        server's request threads go first; 0 leaves it). `periodic`: the janitor also
        enqueues the due periodic tasks."""
        if n_threads < 1:
            raise InputError(f"a worker pool needs at least 1 thread, not {n_threads}")
        self.queue = queue
        self.recover_interval = recover_interval or queue.lease / 2
        self._stop = threading.Event()
        self.workers = [
            Worker(queue, poll_interval=poll_interval, stop_event=self._stop, nice=nice)
            for _ in range(n_threads)
        ]
        self._janitor = Sweeper(
            queue, interval=self.recover_interval, stop_event=self._stop, periodic=periodic
        )
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        if self._stop.is_set():
            raise InputError("a stopped worker pool cannot start again; make a new one")
        if self.started:
            raise InputError("the worker pool is already started")
        self._started = True
        self._janitor.start()
        for worker in self.workers:
            worker.start()
        log.info("worker pool started with %d threads", len(self.workers))

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking jobs, let running ones finish, and wait (up to `timeout` each)."""
        self._stop.set()
        for worker in self.workers:
            worker.stop(timeout)
        self._janitor.stop(timeout)

    def run_until_idle(self, timeout: float, *, poll_interval: float = 0.1) -> bool:
        """Start the pool if needed and wait until no job is queued or running, or until
        `timeout` seconds passed. True when idle. Jobs waiting for a retry count as work."""
        if not self.started:
            self.start()
        deadline = time.monotonic() + timeout
        while True:
            if self.queue.count_pending() == 0 and not any(w.busy for w in self.workers):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll_interval, left))
