"""The small interface every job queue implements (embedded now, Celery later), and the
in-process workers it hands out. Consumers hold a `Queue`, never an implementation."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from callvault.jobs._records import JobRecord, JobStatus

__all__ = ["Queue", "Workers"]


class Workers(ABC):
    """Threads of this process that run a queue's jobs. Use as a context manager, or
    `start()` / `stop()`."""

    @abstractmethod
    def start(self) -> None:
        """Start taking jobs."""

    @abstractmethod
    def stop(self, timeout: float | None = None) -> None:
        """Stop taking jobs, let running ones finish, and wait (up to `timeout` each)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class Queue(ABC):
    """Enqueue named tasks and follow their jobs. Running them is the workers' business."""

    @abstractmethod
    def enqueue(
        self,
        task: str,
        payload: Mapping[str, Any],
        *,
        dedupe_key: str | None = None,
        max_attempts: int = 3,
        call_id: str | None = None,
    ) -> JobRecord:
        """Add a job; with `dedupe_key`, return the job holding that key unless it failed,
        was cancelled or superseded. With `call_id`, return the queued or running job of
        `task` for that call when there is one: one at a time per task and call."""

    @abstractmethod
    def get(self, job_id: str) -> JobRecord:
        """The job, or `NotFound`."""

    @abstractmethod
    def list_jobs(
        self, status: JobStatus | str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        """Jobs, newest first."""

    @abstractmethod
    def retry(self, job_id: str) -> JobRecord:
        """Queue a failed job again with its attempts reset; `InputError` unless failed."""

    @abstractmethod
    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued, running or failed job; a running one stops at its next
        progress report or heartbeat."""

    @abstractmethod
    def known_dedupe_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` a job holds, whatever its state (a failed job keeps its key
        until a new job replaces it)."""

    @abstractmethod
    def count_pending(self) -> int:
        """Jobs queued (due or not) or running."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """How many jobs there are by status; a status no job has is left out."""

    @abstractmethod
    def recover_stale(self, lease: float | None = None) -> list[JobRecord]:
        """Take back running jobs whose worker is gone: queued again, or failed once their
        attempts are used up. Returns the jobs changed."""

    @abstractmethod
    def workers(self, n_threads: int = 2, *, nice: int = 0, periodic: bool = False) -> Workers:
        """`n_threads` workers that run this queue's jobs in this process, not started.
        `nice`: how much lower their CPU priority is than the process's (0 leaves it).
        `periodic`: they also enqueue the registry's periodic tasks when due (long-lived
        processes: `serve`, `callvault worker`; not a command waiting for its jobs)."""

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        on_progress: Callable[[JobRecord], None] | None = None,
        *,
        poll_interval: float = 0.1,
    ) -> JobRecord:
        """Poll the job until it is done or `timeout` seconds passed; return the last record
        read (check `record.done`). `on_progress` sees each change of status or progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[object, ...] | None = None
        while True:
            record = self.get(job_id)
            state = (record.status, record.progress, record.progress_message, record.attempts)
            if on_progress is not None and state != seen:
                on_progress(record)
            seen = state
            if record.done:
                return record
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return record
                time.sleep(min(poll_interval, left))
            else:
                time.sleep(poll_interval)
