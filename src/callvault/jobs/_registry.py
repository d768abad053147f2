"""Tasks are plain functions registered by name; they know nothing about the queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from callvault.errors import InputError, NotFound

__all__ = ["Progress", "TaskFunction", "TaskRegistry"]

Progress: TypeAlias = Callable[[float, str], None]
"""`progress(fraction, message)`: fraction in [0, 1]; the message must hold no personal data."""

TaskFunction: TypeAlias = Callable[[Mapping[str, Any], Progress], None]
"""`task(payload, progress)`: does the work or raises; its return value is ignored."""

MAX_NAME = 64  # jobs.task is String(64)


class TaskRegistry:
    """The named tasks a worker may run. An unknown name is an error, never a skip."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFunction] = {}

    def register(self, name: str, func: TaskFunction) -> None:
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
        self._tasks[name] = func

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
