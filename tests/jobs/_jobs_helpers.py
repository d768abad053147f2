"""Helpers for the job queue tests: a fake clock, and task functions that a child process
can import as well.

Run as a script, it is the worker process that crashes:
`python _jobs_helpers.py DATABASE_URL [WORKER_ID]` claims one job and runs it with the
`resumable` task, which sends SIGKILL to its own process on its first run (no cleanup, no
`finally`, exactly as `kill -9` or the OOM killer would).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callvault.jobs import EmbeddedQueue, Progress, TaskRegistry, make_worker_id
from callvault.vault._db import create_db_engine


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def resumable(payload: Mapping[str, Any], progress: Progress) -> None:
    """Dies half-way on its first run; finishes on the next one."""
    marker = Path(payload["marker"])
    progress(0.5, "half-way")
    if not marker.exists():
        marker.write_text("started once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    progress(0.9, "nearly done")
    Path(payload["done"]).write_text("done\n")


def registry() -> TaskRegistry:
    tasks = TaskRegistry()
    tasks.register("resumable", resumable)
    return tasks


def main(argv: list[str]) -> None:
    engine = create_db_engine(argv[0])
    queue = EmbeddedQueue(engine, registry(), progress_interval=0)
    job = queue.run_one(argv[1] if len(argv) > 1 else make_worker_id("crasher"))
    # Reaching this line means the task did not crash: the test notices the exit status.
    sys.exit(f"the job ran to its end without crashing: {job}")


if __name__ == "__main__":
    main(sys.argv[1:])
