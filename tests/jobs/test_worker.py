"""Workers: many threads never run one job twice, and a job killed mid-task resumes."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from _jobs_helpers import registry as crash_registry
from sqlalchemy import Engine

from callvault.config import Config
from callvault.errors import InputError
from callvault.jobs import EmbeddedQueue, JobStatus, Progress, TaskRegistry, Worker, WorkerPool

CHILD = Path(__file__).with_name("_jobs_helpers.py")


def test_pool_runs_each_job_exactly_once(engine: Engine) -> None:
    runs: collections.Counter[int] = collections.Counter()
    threads: set[str] = set()
    lock = threading.Lock()

    def count(payload: Mapping[str, Any], progress: Progress) -> None:
        with lock:
            runs[payload["n"]] += 1
            threads.add(threading.current_thread().name)
        progress(1.0, "counted")
        time.sleep(0.002)  # hold the job long enough for the others to race for the next

    tasks = TaskRegistry()
    tasks.register("count", count)
    queue = EmbeddedQueue(engine, tasks)
    ids = [queue.enqueue("count", {"n": n}).id for n in range(50)]

    with WorkerPool(queue, 4, poll_interval=0.01) as pool:
        assert pool.run_until_idle(timeout=15)
    assert runs == collections.Counter(range(50))
    assert len(threads) > 1
    assert {queue.get(i).status for i in ids} == {JobStatus.SUCCEEDED}
    assert {queue.get(i).attempts for i in ids} == {1}


def test_run_until_idle_times_out_and_pool_is_single_use(engine: Engine) -> None:
    release = threading.Event()

    def block(payload: Mapping[str, Any], progress: Progress) -> None:
        release.wait(10)

    tasks = TaskRegistry()
    tasks.register("block", block)
    queue = EmbeddedQueue(engine, tasks)
    queue.enqueue("block", {})
    pool = WorkerPool(queue, 1, poll_interval=0.01)
    assert pool.run_until_idle(timeout=0.3) is False
    release.set()
    assert pool.run_until_idle(timeout=10) is True
    pool.stop()
    with pytest.raises(InputError, match="a stopped worker pool cannot start again"):
        pool.start()
    with pytest.raises(InputError, match="at least 1 thread"):
        WorkerPool(queue, 0)


def test_a_niced_pool_runs_its_jobs_and_their_threads_at_lower_priority(
    engine: Engine,
) -> None:
    seen: list[tuple[int, int]] = []

    def measure(payload: Mapping[str, Any], progress: Progress) -> None:
        # A thread the task starts (as a speech model starts its own) inherits it.
        inner: list[int] = []
        child = threading.Thread(
            target=lambda: inner.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        child.start()
        child.join()
        seen.append((os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), inner[0]))

    tasks = TaskRegistry()
    tasks.register("measure", measure)
    queue = EmbeddedQueue(engine, tasks)
    queue.enqueue("measure", {})
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with WorkerPool(queue, 1, poll_interval=0.01, nice=5) as pool:
        assert pool.run_until_idle(timeout=10)
    assert seen == [(min(19, here + 5), min(19, here + 5))]
    # The process (this thread) keeps its priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here


def test_worker_survives_a_failing_task(engine: Engine) -> None:
    def boom(payload: Mapping[str, Any], progress: Progress) -> None:
        raise KeyError("missing")

    tasks = TaskRegistry()
    tasks.register("boom", boom)
    tasks.register("fine", lambda payload, progress: None)
    queue = EmbeddedQueue(engine, tasks)
    bad = queue.enqueue("boom", {}, max_attempts=1)
    good = queue.enqueue("fine", {})
    worker = Worker(queue, poll_interval=0.01)
    worker.start()
    try:
        assert queue.wait(good.id, timeout=10).status is JobStatus.SUCCEEDED
        failed = queue.wait(bad.id, timeout=10)
    finally:
        worker.stop()
    assert (failed.status, failed.last_error) == (JobStatus.FAILED, "KeyError: 'missing'")


@pytest.mark.parametrize("route", ["lease", "dead-process"])
def test_job_killed_mid_task_resumes_after_restart(
    engine: Engine, config: Config, tmp_path: Path, route: str
) -> None:
    queue = EmbeddedQueue(engine, crash_registry(), progress_interval=0)
    marker, done = tmp_path / "marker", tmp_path / "done"
    job = queue.enqueue("resumable", {"marker": str(marker), "done": str(done)})

    # "elsewhere" is not this machine, so only the lease can declare that worker lost.
    worker = ["elsewhere:1:crasher"] if route == "lease" else []
    child = subprocess.run(
        [sys.executable, str(CHILD), config.effective_database_url, *worker],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    crashed = queue.get(job.id)
    assert (crashed.status, crashed.attempts) == (JobStatus.RUNNING, 1)
    assert (crashed.progress, crashed.progress_message) == (0.5, "half-way")
    assert marker.exists() and not done.exists()

    # The restarted worker process recovers the job before it polls.
    if route == "lease":
        assert queue.recover_stale() == []  # the 60 s lease has not run out
        time.sleep(0.2)
        [recovered] = queue.recover_stale(lease=0.1)
        why = "no heartbeat within the lease"
    else:
        [recovered] = queue.recover_stale()  # at once: the crashed process is gone
        why = "its worker process is gone"
    assert (recovered.id, recovered.status) == (job.id, JobStatus.QUEUED)
    assert recovered.last_error == (
        f"WorkerLost: the worker stopped during attempt 1 ({why}; lost 1)"
    )

    # The lost run was given back: the restarted worker's run is attempt 1 again.
    finished = queue.run_one("restarted:1:w")
    assert finished is not None and finished.id == job.id
    assert (finished.status, finished.attempts, finished.progress) == (
        JobStatus.SUCCEEDED,
        1,
        1.0,
    )
    assert done.read_text() == "done\n"


def test_heartbeat_keeps_a_quiet_job_alive(engine: Engine) -> None:
    started, release = threading.Event(), threading.Event()

    def quiet(payload: Mapping[str, Any], progress: Progress) -> None:
        started.set()
        release.wait(10)  # long work that reports no progress

    tasks = TaskRegistry()
    tasks.register("quiet", quiet)
    queue = EmbeddedQueue(engine, tasks, lease=0.5, heartbeat_interval=0.05)
    job = queue.enqueue("quiet", {})
    worker = Worker(queue, worker_id="elsewhere:1:quiet", poll_interval=0.01)
    worker.start()
    try:
        assert started.wait(10)
        time.sleep(1.0)  # twice the lease
        assert queue.recover_stale() == []
        assert queue.get(job.id).status is JobStatus.RUNNING
        release.set()
        assert queue.wait(job.id, timeout=10).status is JobStatus.SUCCEEDED
    finally:
        release.set()
        worker.stop()
