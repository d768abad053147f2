"""The sweep every worker process runs, whichever queue it serves (issue 19).

Every `interval` seconds: take back the jobs of lost workers (`recover_stale`), enqueue
the periodic tasks that are due, and whatever else the queue needs (a broker-backed queue
sends the wake-ups that were lost or never sent). Any number of processes may sweep at
once: recovery skips rows another sweeper holds, and a periodic task's dedupe key names
its time slot, so many sweepers make one job per slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import exc as sa_exc

from callvault.errors import CallvaultError
from callvault.jobs._embedded import EmbeddedQueue
from callvault.jobs._records import JobRecord

__all__ = ["Sweeper", "enqueue_due_periodic", "periodic_key"]

log = logging.getLogger("callvault.jobs")

Step = Callable[[], object]


def periodic_key(task: str, every_s: float, now: float) -> str:
    """The dedupe key of `task`'s job for the time slot holding `now` (epoch seconds)."""
    return f"every:{task}:{int(now // every_s)}"


def enqueue_due_periodic(queue: EmbeddedQueue, now: float | None = None) -> list[JobRecord]:
    """Enqueue each periodic task of the queue's registry once per time slot; returns the
    jobs of the slots this call found without one (a concurrent sweeper may have added
    some of them first). A slot whose job failed is not tried again: its key is taken."""
    when = time.time() if now is None else now
    due = {periodic_key(p.task, p.every_s, when): p for p in queue.registry.periodic()}
    if not due:
        return []
    known = queue.known_dedupe_keys(list(due))
    return [
        queue.enqueue(periodic.task, periodic.payload, dedupe_key=key)
        for key, periodic in due.items()
        if key not in known
    ]


class Sweeper:
    """A thread that sweeps `queue` at start and every `interval` seconds (default: half
    its lease). `steps` run after recovery and (with `periodic`) the periodic tasks, in
    order. A step that
    fails (the database or broker away for a moment) is logged and tried next round."""

    def __init__(
        self,
        queue: EmbeddedQueue,
        *,
        interval: float | None = None,
        steps: Sequence[Step] = (),
        stop_event: threading.Event | None = None,
        periodic: bool = True,
    ) -> None:
        self.queue = queue
        self.interval = interval or queue.lease / 2
        first: list[Step] = [queue.recover_stale]
        if periodic:
            first.append(lambda: enqueue_due_periodic(queue))
        self.steps: tuple[Step, ...] = (*first, *steps)
        self._stop = stop_event or threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> None:
        """Run every step once, now."""
        for step in self.steps:
            try:
                step()
            except (sa_exc.SQLAlchemyError, CallvaultError) as exc:
                log.warning("job sweep step failed: %s", type(exc).__name__)

    def start(self) -> None:
        """Sweep once, then start the thread that sweeps every `interval` seconds."""
        self.sweep()
        self._thread = threading.Thread(target=self._loop, name="callvault-jobs-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()
