"""Tasks are plain functions registered by name; they know nothing about the queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from callvault.errors import InputError, NotFound

__all__ = ["DEFAULT_QUEUE", "QUEUES", "PeriodicTask", "Progress", "TaskFunction", "TaskRegistry"]

Progress: TypeAlias = Callable[[float, str], None]
"""`progress(fraction, message)`: fraction in [0, 1]; the message must hold no personal data."""

TaskFunction: TypeAlias = Callable[[Mapping[str, Any], Progress], None]
"""`task(payload, progress)`: does the work or raises; its return value is ignored."""

MAX_NAME = 64  # jobs.task is String(64)

QUEUES = ("asr", "analysis", "redaction", "webhooks", "maintenance")
"""Queues by resource class: speech recognition can run on bigger machines than webhook
delivery (`callvault worker --queues asr`). The embedded queue runs them all."""
DEFAULT_QUEUE = "analysis"


@dataclass(frozen=True)
class PeriodicTask:
    """`task` is due every `every_s` seconds, with `payload`. Every worker process may
    enqueue it; the queue's dedupe key per time slot keeps it to one job per slot."""

    task: str
    every_s: float
    payload: Mapping[str, Any] = field(default_factory=dict)


class TaskRegistry:
    """The named tasks a worker may run. An unknown name is an error, never a skip."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFunction] = {}
        self._queues: dict[str, str] = {}
        self._periodic: dict[str, PeriodicTask] = {}

    def register(self, name: str, func: TaskFunction, *, queue: str = DEFAULT_QUEUE) -> None:
        """Register `func` as task `name`, run by the workers of `queue` (one of
        `QUEUES`)."""
        if not name or len(name) > MAX_NAME or name.strip() != name:
            raise InputError(
                f"task name {name!r} is not usable; use 1 to {MAX_NAME} characters without "
                "surrounding spaces"
            )
        if not callable(func):
            raise InputError(f"task {name!r}: {func!r} is not callable")
        known = self._tasks.get(name)
        if known is not None and known is not func:
            raise InputError(
                f"task {name!r} is already registered to another function; pick another name"
            )
        if queue not in QUEUES:
            raise InputError(
                f"task {name!r}: unknown queue {queue!r}; use one of {', '.join(QUEUES)}"
            )
        self._tasks[name] = func
        self._queues[name] = queue

    def queue_of(self, name: str) -> str:
        """The queue whose workers run task `name`; `NotFound` for an unknown task."""
        self.get(name)
        return self._queues[name]

    def every(self, task: str, seconds: float, payload: Mapping[str, Any] | None = None) -> None:
        """Make the registered `task` due every `seconds` (at least 1), with `payload`."""
        self.get(task)
        if not seconds >= 1:
            raise InputError(f"task {task!r}: a period must be at least 1 second, not {seconds}")
        self._periodic[task] = PeriodicTask(task, float(seconds), dict(payload or {}))

    def periodic(self) -> list[PeriodicTask]:
        """The periodic tasks, by name."""
        return [self._periodic[name] for name in sorted(self._periodic)]

    def get(self, name: str) -> TaskFunction:
        try:
            return self._tasks[name]
        except KeyError:
            raise NotFound(
                f"unknown task {name!r}; register it with TaskRegistry.register before "
                "workers start"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)
