"""Jobs on Celery (issue 19) against the real Redis and RabbitMQ: the database stays the
ledger, the broker carries wake-ups, and a lost wake-up or broker is made good by the
sweep. Workers run on a thread of the test (a solo Celery worker) here;
test_celery_worker.py runs `callvault worker` processes and kills them."""

from __future__ import annotations

import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _celery_helpers import RedisServer, registry, wait_for
from _jobs_helpers import FakeClock
from amqp.exceptions import ChannelError
from celery.contrib.testing.worker import start_worker
from celery.exceptions import CPendingDeprecationWarning
from kombu import Connection
from sqlalchemy import Engine

from callvault.jobs import (
    MAX_WORKER_LOSSES,
    QUEUES,
    CeleryQueue,
    EmbeddedQueue,
    JobStatus,
    Progress,
    TaskRegistry,
    WorkerPool,
    broker_queue,
    enqueue_due_periodic,
    use_worker_queue,
)

AMQP_URL = os.environ.get("CALLVAULT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def namespace() -> str:
    """Queue names of this test alone on the shared RabbitMQ."""
    return f"cvtest{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, namespace: str) -> Iterator[str]:
    if request.param == "redis":
        yield request.getfixturevalue("redis_server").url
        return
    yield AMQP_URL
    with Connection(AMQP_URL) as conn:
        for queue in QUEUES:
            name = broker_queue(queue, namespace)
            for drop in ("queue_delete", "exchange_delete"):
                channel = conn.channel()
                try:
                    getattr(channel, drop)(name)
                except Exception:  # noqa: BLE001 - never declared by this test
                    pass
                finally:
                    channel.close()


def celery_queue(
    engine: Engine,
    broker: str,
    namespace: str,
    tasks: TaskRegistry | None = None,
    **options: object,
) -> CeleryQueue:
    queue = CeleryQueue(
        engine, tasks or registry(), broker, namespace=namespace, progress_interval=0, **options
    )
    queue.app.conf.worker_redirect_stdouts = False  # leave pytest's capture alone
    # AMQP heartbeats wake the worker's event loop often, so it sees the end of a test at
    # once instead of after its 10 s poll.
    queue.app.conf.broker_heartbeat = 2
    return queue


@contextmanager
def worker_thread(queue: CeleryQueue, names: tuple[str, ...] = QUEUES) -> Iterator[None]:
    """A solo Celery worker for `names` on a thread of this process."""
    use_worker_queue(lambda: queue)
    with start_worker(
        queue.app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[broker_queue(name, queue.namespace) for name in names],
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        yield


def waiting_messages(broker: str, name: str) -> int:
    with Connection(broker) as conn:
        try:
            return int(conn.default_channel.queue_declare(name, passive=True).message_count)
        except ChannelError:  # Redis drops the key of an empty list
            return 0


def test_a_job_runs_on_the_worker_of_its_queue(
    engine: Engine, broker: str, namespace: str, tmp_path: Path
) -> None:
    queue = celery_queue(engine, broker, namespace)
    log = tmp_path / "runs.log"
    seen: list[tuple[JobStatus, float | None]] = []
    with worker_thread(queue, ("asr",)):  # `record` is an asr task
        job = queue.enqueue("record", {"log": str(log), "n": 7})
        assert job.status is JobStatus.QUEUED
        done = queue.wait(job.id, 30, lambda r: seen.append((r.status, r.progress)))
    assert (done.status, done.attempts, done.progress) == (JobStatus.SUCCEEDED, 1, 1.0)
    assert log.read_text() == "7\n"
    assert seen[-1] == (JobStatus.SUCCEEDED, 1.0)
    assert queue.counts() == {"succeeded": 1}


def test_retry_and_a_failed_attempt_publish_again(
    engine: Engine, broker: str, namespace: str, tmp_path: Path
) -> None:
    queue = celery_queue(engine, broker, namespace, backoff_base=0.2)
    fail, log = tmp_path / "fail", tmp_path / "runs.log"
    fail.touch()
    payload = {"fail": str(fail), "log": str(log)}
    with worker_thread(queue, ("webhooks",)):
        job = queue.enqueue("flaky", payload, max_attempts=1)
        failed = queue.wait(job.id, 30)
        assert (failed.status, failed.last_error) == (
            JobStatus.FAILED,
            "RuntimeError: told to fail",
        )
        fail.unlink()
        queue.retry(job.id)
        assert queue.wait(job.id, 30).status is JobStatus.SUCCEEDED

        # A failed attempt with attempts left is queued with a backoff and sent with a
        # countdown: the worker runs it again without any sweep.
        fail.touch()
        again = queue.enqueue("flaky", payload, max_attempts=2)
        wait_for(
            lambda: queue.get(again.id).attempts == 1 and log.read_text().count("ran") == 3,
            30,
            "the first attempt",
        )
        fail.unlink()
        done = queue.wait(again.id, 30)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
    assert log.read_text().count("ran") == 4


def test_duplicate_wake_ups_run_the_job_once(
    engine: Engine, broker: str, namespace: str, tmp_path: Path
) -> None:
    queue = celery_queue(engine, broker, namespace)
    log = tmp_path / "runs.log"
    job = queue.enqueue("record", {"log": str(log)})
    for _ in range(3):
        assert queue.publish(job)
    name = broker_queue("asr", namespace)
    assert waiting_messages(broker, name) == 4
    with worker_thread(queue, ("asr",)):
        assert queue.wait(job.id, 30).status is JobStatus.SUCCEEDED
        wait_for(lambda: waiting_messages(broker, name) == 0, 30, "every wake-up consumed")
    assert log.read_text() == "0\n"
    assert queue.get(job.id).attempts == 1


def test_enqueue_while_the_broker_is_down_runs_once_it_is_back(
    engine: Engine, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    queue = celery_queue(engine, redis_server.url, namespace, republish_after=0.2)
    log = tmp_path / "runs.log"
    redis_server.stop()
    job = queue.enqueue("record", {"log": str(log)})  # no error: the database holds it
    assert queue.get(job.id).status is JobStatus.QUEUED
    assert queue.republish_waiting(older_than=0) == 0  # still down: nothing sent
    redis_server.start()
    sweeper = queue.sweeper(interval=0.2)
    with worker_thread(queue, ("asr",)):
        sweeper.start()
        try:
            done = queue.wait(job.id, 30)
        finally:
            sweeper.stop()
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    assert log.read_text() == "0\n"


def test_claim_job_takes_a_job_only_when_it_is_due_and_free(
    engine: Engine, redis_server: RedisServer, namespace: str, clock: FakeClock
) -> None:
    queue = celery_queue(engine, redis_server.url, namespace, clock=clock)
    job = queue.enqueue("record", {"log": "/nonexistent"}, max_attempts=2)
    assert queue.claim_job("nope", "w1") is None
    assert queue.claim_job(job.id, "w1") is not None
    assert queue.claim_job(job.id, "w2") is None  # running, heartbeat within the lease
    clock.advance(61)
    taken = queue.claim_job(job.id, "w2")  # no heartbeat for a lease: taken over
    # The lost run is given back (a killed worker is not the task's failure).
    assert taken is not None and taken.attempts == 1
    assert taken.last_error is not None and taken.last_error.startswith("WorkerLost")
    for n in range(3, MAX_WORKER_LOSSES + 1):
        clock.advance(61)
        again = queue.claim_job(job.id, f"w{n}")
        assert again is not None and again.attempts == 1
    clock.advance(61)
    # It lost MAX_WORKER_LOSSES workers: failed, not run again.
    assert queue.claim_job(job.id, "w-last") is None
    assert queue.get(job.id).status is JobStatus.FAILED
    assert queue.counts() == {"failed": 1}


def test_periodic_tasks_make_one_job_per_slot_with_many_sweepers(engine: Engine) -> None:
    tasks = TaskRegistry()
    tasks.register("tick", lambda payload, progress: None, queue="maintenance")
    tasks.every("tick", 60, {"scope": "all"})
    queues = [EmbeddedQueue(engine, tasks) for _ in range(4)]
    start = threading.Barrier(len(queues))

    def sweep(queue: EmbeddedQueue) -> None:
        start.wait()
        enqueue_due_periodic(queue, now=6000.0)

    threads = [threading.Thread(target=sweep, args=(q,)) for q in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [job] = queues[0].list_jobs()
    assert (job.task, job.payload) == ("tick", {"scope": "all"})
    assert enqueue_due_periodic(queues[1], now=6059.0) == []  # same slot
    [later] = enqueue_due_periodic(queues[2], now=6060.0)
    assert later.id != job.id and len(queues[0].list_jobs()) == 2


def test_the_embedded_pool_runs_periodic_tasks(engine: Engine) -> None:
    """Only a long-lived pool (`serve`, `callvault worker`) enqueues them; a command
    waiting for its own jobs does not start a retention run on the side."""
    ran = threading.Event()

    def tick(payload: object, progress: Progress) -> None:
        ran.set()

    tasks = TaskRegistry()
    tasks.register("tick", tick, queue="maintenance")
    tasks.every("tick", 3600)
    queue = EmbeddedQueue(engine, tasks)
    with WorkerPool(queue, 1, poll_interval=0.02):
        pass
    assert queue.list_jobs() == []
    with WorkerPool(queue, 1, poll_interval=0.02, periodic=True):
        assert ran.wait(20)
    [job] = queue.list_jobs()
    assert job.task == "tick"


def test_a_running_worker_outlives_a_broker_outage(
    engine: Engine, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    queue = celery_queue(engine, redis_server.url, namespace, republish_after=0.2)
    log = tmp_path / "runs.log"
    sweeper = queue.sweeper(interval=0.2)
    with worker_thread(queue, ("asr",)):
        # Celery's note that it may cancel running tasks on a lost connection one day;
        # callvault keeps them running (run_celery_worker silences it too). Set after the
        # worker's start, which turns that category to "always"; pytest restores the
        # filters after the test.
        warnings.filterwarnings("ignore", category=CPendingDeprecationWarning)
        sweeper.start()
        try:
            before = queue.enqueue("record", {"log": str(log), "n": 1})
            assert queue.wait(before.id, 30).status is JobStatus.SUCCEEDED
            redis_server.stop()
            during = queue.enqueue("record", {"log": str(log), "n": 2})
            assert queue.get(during.id).status is JobStatus.QUEUED
            redis_server.start()
            done = queue.wait(during.id, 60)
        finally:
            sweeper.stop()
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    assert log.read_text() == "1\n2\n"
