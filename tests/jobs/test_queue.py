"""The embedded queue on SQLite and PostgreSQL: claiming, retries, dedupe, cancel, recovery."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from _jobs_helpers import FakeClock
from sqlalchemy import Engine

from callvault.config import Config
from callvault.errors import InputError, NotFound
from callvault.jobs import (
    MAX_WORKER_LOSSES,
    EmbeddedQueue,
    JobRecord,
    JobStatus,
    Progress,
    Queue,
    TaskRegistry,
    Workers,
    open_queue,
)

W1 = "otherhost:1:w1"  # a worker of another host: only the lease can declare it lost
W2 = "otherhost:2:w2"


def _ok(payload: Mapping[str, Any], progress: Progress) -> None:
    progress(0.25, "a quarter")
    progress(0.75, "three quarters")


class Flaky:
    """Fails with a two-line message until `healthy` is set."""

    def __init__(self) -> None:
        self.healthy = False
        self.runs = 0

    def __call__(self, payload: Mapping[str, Any], progress: Progress) -> None:
        self.runs += 1
        if not self.healthy:
            raise ValueError("disk on fire\n  second line")


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def registry(flaky: Flaky) -> TaskRegistry:
    tasks = TaskRegistry()
    tasks.register("ok", _ok)
    tasks.register("flaky", flaky)
    return tasks


@pytest.fixture
def queue(engine: Engine, registry: TaskRegistry, clock: FakeClock) -> EmbeddedQueue:
    return EmbeddedQueue(engine, registry, clock=clock, progress_interval=0)


def test_enqueue_claim_succeed(queue: EmbeddedQueue, clock: FakeClock) -> None:
    assert isinstance(queue, Queue)
    job = queue.enqueue("ok", {"recording_id": "r1"})
    assert job.status is JobStatus.QUEUED
    assert (job.attempts, job.max_attempts, job.run_after) == (0, 3, clock.now)
    assert queue.get(job.id) == job
    assert queue.list_jobs() == [job]
    assert queue.list_jobs(status="running") == []

    clock.advance(1)
    done = queue.run_one(W1)
    assert done is not None and done.id == job.id
    assert done.status is JobStatus.SUCCEEDED and done.done
    assert (done.attempts, done.progress, done.progress_message) == (1, 1.0, "three quarters")
    assert done.finished_at == done.updated_at == clock.now
    assert done.payload == {"recording_id": "r1"}
    assert queue.run_one(W1) is None
    assert json.loads(json.dumps(done.to_json()))["status"] == "succeeded"
    assert done.to_json()["finished_at"] == clock.now.isoformat()


def test_claim_takes_oldest_first(queue: EmbeddedQueue, clock: FakeClock) -> None:
    first = queue.enqueue("ok", {"n": 1})
    clock.advance(0.001)
    second = queue.enqueue("ok", {"n": 2})
    claimed = queue.claim(W1)
    assert claimed is not None and claimed.id == first.id
    assert (claimed.status, claimed.attempts) == (JobStatus.RUNNING, 1)
    other = queue.claim(W2)
    assert other is not None and other.id == second.id
    assert queue.claim(W1) is None


def test_failure_backs_off_then_fails_with_reason(
    queue: EmbeddedQueue, clock: FakeClock, flaky: Flaky
) -> None:
    job = queue.enqueue("flaky", {})
    start = clock.now

    after_1 = queue.run_one(W1)
    assert after_1 is not None
    assert (after_1.status, after_1.attempts) == (JobStatus.QUEUED, 1)
    assert after_1.run_after == start + timedelta(seconds=2)
    assert after_1.last_error == "ValueError: disk on fire second line"
    assert queue.run_one(W1) is None  # not due yet

    clock.advance(2)
    after_2 = queue.run_one(W1)
    assert after_2 is not None
    assert (after_2.status, after_2.attempts) == (JobStatus.QUEUED, 2)
    assert after_2.run_after == clock.now + timedelta(seconds=4)

    clock.advance(4)
    failed = queue.run_one(W1)
    assert failed is not None and failed.id == job.id
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 3)
    assert failed.last_error == "ValueError: disk on fire second line"
    assert failed.finished_at == clock.now
    assert flaky.runs == 3
    assert queue.list_jobs(status=JobStatus.FAILED) == [failed]


def test_backoff_is_capped(engine: Engine, registry: TaskRegistry) -> None:
    queue = EmbeddedQueue(engine, registry, backoff_base=0.5, backoff_max=10)
    assert [queue.backoff(n) for n in (1, 2, 3, 4, 5, 100)] == [1, 2, 4, 8, 10, 10]


def test_long_error_is_one_truncated_line(engine: Engine, clock: FakeClock) -> None:
    def boom(payload: Mapping[str, Any], progress: Progress) -> None:
        raise RuntimeError("x" * 2000)

    tasks = TaskRegistry()
    tasks.register("boom", boom)
    queue = EmbeddedQueue(engine, tasks, clock=clock)
    queue.enqueue("boom", {}, max_attempts=1)
    failed = queue.run_one(W1)
    assert failed is not None and failed.last_error is not None
    assert len(failed.last_error) == 500
    assert failed.last_error.startswith("RuntimeError: xxx") and failed.last_error.endswith("…")


def test_retry_flow(queue: EmbeddedQueue, clock: FakeClock, flaky: Flaky) -> None:
    job = queue.enqueue("flaky", {}, max_attempts=1)
    failed = queue.run_one(W1)
    assert failed is not None and failed.status is JobStatus.FAILED

    clock.advance(60)
    again = queue.retry(job.id)
    assert (again.status, again.attempts, again.run_after) == (JobStatus.QUEUED, 0, clock.now)
    assert again.finished_at is None
    assert again.last_error == "ValueError: disk on fire second line"  # kept until it runs

    flaky.healthy = True
    done = queue.run_one(W1)
    assert done is not None and (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)

    with pytest.raises(InputError) as err:
        queue.retry(job.id)
    assert str(err.value) == (
        f"job {job.id} is succeeded, not failed; only a failed job can be retried"
    )
    with pytest.raises(NotFound) as missing:
        queue.retry("0" * 32)
    assert str(missing.value) == (
        f"job {'0' * 32} does not exist; `callvault jobs list` shows the jobs"
    )


def test_dedupe(queue: EmbeddedQueue, clock: FakeClock) -> None:
    first = queue.enqueue("flaky", {"a": 1}, dedupe_key="process:r1", max_attempts=1)
    assert queue.enqueue("flaky", {"a": 2}, dedupe_key="process:r1") == first
    clock.advance(1)
    assert queue.enqueue("flaky", {"a": 3}, dedupe_key="process:r2").id != first.id

    queue.run_one(W1)
    assert queue.get(first.id).status is JobStatus.FAILED
    second = queue.enqueue("flaky", {"a": 4}, dedupe_key="process:r1")
    assert second.id != first.id and second.payload == {"a": 4}
    assert queue.enqueue("flaky", {}, dedupe_key="process:r1") == second
    assert len(queue.list_jobs()) == 3
    assert len(queue.list_jobs(limit=2)) == 2


def test_unknown_task_fails_closed(engine: Engine, queue: EmbeddedQueue) -> None:
    with pytest.raises(NotFound) as err:
        queue.enqueue("nope", {})
    assert str(err.value) == (
        "unknown task 'nope'; register it with TaskRegistry.register before workers start"
    )
    job = queue.enqueue("ok", {})
    other = EmbeddedQueue(engine, TaskRegistry(), clock=queue.clock)  # a worker without "ok"
    failed = other.run_one(W1)
    assert failed is not None and failed.id == job.id
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert failed.last_error == (
        "unknown task 'ok'; register it with TaskRegistry.register before workers start"
    )


def test_bad_input(queue: EmbeddedQueue) -> None:
    with pytest.raises(InputError) as err:
        queue.enqueue("ok", {"when": object()})
    assert str(err.value) == (
        "the payload of task 'ok' is not JSON (TypeError); pass ids and plain values, not objects"
    )
    with pytest.raises(InputError, match="max_attempts must be at least 1, not 0"):
        queue.enqueue("ok", {}, max_attempts=0)
    with pytest.raises(InputError, match="unknown job status 'done'"):
        queue.list_jobs(status="done")
    with pytest.raises(NotFound):
        queue.get("missing")


def test_cancel(engine: Engine, queue: EmbeddedQueue, clock: FakeClock) -> None:
    queued = queue.enqueue("ok", {})
    cancelled = queue.cancel(queued.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at == clock.now
    assert queue.run_one(W1) is None
    with pytest.raises(InputError) as err:
        queue.cancel(queued.id)
    assert str(err.value) == f"job {queued.id} is cancelled; there is nothing to cancel"

    # A running job stops at its next progress report; its worker writes nothing more.
    started, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow(payload: Mapping[str, Any], progress: Progress) -> None:
        progress(0.1, "started")
        started.set()
        release.wait(10)
        try:
            progress(0.2, "after cancel")
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise

    tasks = TaskRegistry()
    tasks.register("slow", slow)
    slow_queue = EmbeddedQueue(engine, tasks, clock=clock, progress_interval=0)
    job = slow_queue.enqueue("slow", {})
    result: list[JobRecord | None] = []
    runner = threading.Thread(target=lambda: result.append(slow_queue.run_one(W1)))
    runner.start()
    assert started.wait(10)
    slow_queue.cancel(job.id)
    release.set()
    runner.join(10)
    assert seen == ["_LeaseLost"]
    final = slow_queue.get(job.id)
    assert result == [final]
    assert (final.status, final.progress_message) == (JobStatus.CANCELLED, "started")


def test_wait_reports_progress(engine: Engine, queue: EmbeddedQueue) -> None:
    job = queue.enqueue("ok", {})
    seen: list[JobStatus] = []
    pending = queue.wait(job.id, timeout=0.05, on_progress=lambda r: seen.append(r.status))
    assert not pending.done and seen == [JobStatus.QUEUED]
    runner = threading.Timer(0.1, lambda: queue.run_one(W1))
    runner.start()
    final = queue.wait(job.id, timeout=10, on_progress=lambda r: seen.append(r.status))
    runner.join()
    assert final.status is JobStatus.SUCCEEDED
    assert seen[-1] is JobStatus.SUCCEEDED


def test_lease_recovery(queue: EmbeddedQueue, clock: FakeClock) -> None:
    job = queue.enqueue("ok", {}, max_attempts=2)
    assert queue.claim(W1) is not None
    clock.advance(59)
    assert queue.recover_stale() == []  # heartbeat still within the 60 s lease

    clock.advance(2)
    [recovered] = queue.recover_stale()
    # Losing its worker is not the task's failure: the attempt is given back (issue 19).
    assert (recovered.id, recovered.status, recovered.attempts) == (job.id, JobStatus.QUEUED, 0)
    assert recovered.last_error == (
        "WorkerLost: the worker stopped during attempt 1 (no heartbeat within the lease; lost 1)"
    )

    # The lost worker comes back and finishes late: its write is dropped.
    late = dataclasses.replace(recovered, status=JobStatus.RUNNING)
    queue._end(late, W1, JobStatus.SUCCEEDED)
    assert queue.get(job.id).status is JobStatus.QUEUED

    # A job whose workers keep dying fails at the MAX_WORKER_LOSSES-th loss, whatever
    # its max_attempts: it is not retried forever.
    for lost in range(2, MAX_WORKER_LOSSES + 1):
        claimed = queue.claim(W2)
        assert claimed is not None and claimed.attempts == 1
        clock.advance(61)
        [again] = queue.recover_stale()
        expected = JobStatus.FAILED if lost == MAX_WORKER_LOSSES else JobStatus.QUEUED
        assert again.status is expected, lost
    assert again.last_error is not None and "keeps losing its workers" in again.last_error
    retried = queue.retry(job.id)
    assert (retried.status, retried.attempts) == (JobStatus.QUEUED, 0)


def test_logs_never_hold_payload(
    queue: EmbeddedQueue, flaky: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="callvault.jobs")
    queue.enqueue("flaky", {"phone": "+15551234567"}, dedupe_key="k", max_attempts=1)
    queue.enqueue("flaky", {"phone": "+15551234567"}, dedupe_key="k")
    queue.run_one(W1)
    assert caplog.records
    assert all(r.name == "callvault.jobs" for r in caplog.records)
    assert "+1555" not in caplog.text and "disk on fire" not in caplog.text


def test_registry_rejects_bad_names() -> None:
    tasks = TaskRegistry()
    tasks.register("ok", _ok)
    tasks.register("ok", _ok)  # the same function again is harmless
    with pytest.raises(InputError) as err:
        tasks.register("ok", Flaky())
    assert str(err.value) == (
        "task 'ok' is already registered to another function; pick another name"
    )
    with pytest.raises(InputError, match="task name '' is not usable"):
        tasks.register("", _ok)
    assert tasks.names() == ["ok"] and "ok" in tasks and len(tasks) == 1


def test_open_queue_gives_the_embedded_queue_as_a_queue(
    config: Config, engine: Engine, registry: TaskRegistry
) -> None:
    queue = open_queue(config, engine, registry)
    assert isinstance(queue, Queue) and isinstance(queue, EmbeddedQueue)
    assert queue.registry is registry


def test_counts_by_status(queue: EmbeddedQueue) -> None:
    assert queue.counts() == {}
    queue.enqueue("ok", {})
    queue.enqueue("ok", {})
    queue.run_one(W1)
    assert queue.counts() == {"queued": 1, "succeeded": 1}
    assert queue.count_pending() == 1


def test_workers_run_the_queue(queue: EmbeddedQueue) -> None:
    job = queue.enqueue("ok", {})
    workers = queue.workers(1)
    assert isinstance(workers, Workers)
    with workers:
        final = queue.wait(job.id, timeout=30)
    assert final.status is JobStatus.SUCCEEDED
