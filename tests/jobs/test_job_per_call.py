"""One job per task and call at a time, jobs of a call that is gone cancelled rather than
retried, and failures superseded by a later success (issue 17, finding 6 and 8), on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from _jobs_helpers import FakeClock
from sqlalchemy import Engine, delete, insert
from sqlalchemy import exc as sa_exc

from callvault.errors import InputError, NotFound
from callvault.jobs import EmbeddedQueue, JobRecord, JobStatus, Progress, TaskRegistry
from callvault.jobs._models import JobRow
from callvault.vault._models import CallRow

W1 = "otherhost:1:w1"
CALL_GONE = "Cancelled: its call was erased"


class Flaky:
    """Fails until `healthy` is set."""

    def __init__(self) -> None:
        self.healthy = False

    def __call__(self, payload: Mapping[str, Any], progress: Progress) -> None:
        if not self.healthy:
            raise ValueError("model crashed")


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def queue(engine: Engine, clock: FakeClock, flaky: Flaky) -> EmbeddedQueue:
    tasks = TaskRegistry()
    tasks.register("ok", lambda payload, progress: None)
    tasks.register("flaky", flaky)

    def erasing(payload: Mapping[str, Any], progress: Progress) -> None:
        # The call is erased while the job runs, by a path that does not know about
        # jobs; the task then fails as processing would, on the missing call.
        with engine.begin() as conn:
            conn.execute(delete(CallRow).where(CallRow.id == payload["call_id"]))
        raise NotFound(f"call {payload['call_id']} does not exist")

    tasks.register("erasing", erasing)
    return EmbeddedQueue(engine, tasks, clock=clock, progress_interval=0)


def a_call(engine: Engine, clock: FakeClock) -> str:
    call_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(insert(CallRow).values(id=call_id, created_at=clock.now))
    return call_id


def test_a_second_enqueue_for_a_call_returns_the_job_it_has(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock
) -> None:
    call_id, other = a_call(engine, clock), a_call(engine, clock)
    first = queue.enqueue("ok", {"call_id": call_id}, call_id=call_id)
    assert first.call_id == call_id and first.to_json()["call_id"] == call_id
    clock.advance(1)
    # Also without the dedupe key (`callvault process` asks again on purpose).
    assert queue.enqueue("ok", {"call_id": call_id}, call_id=call_id) == first
    assert queue.enqueue("ok", {"call_id": call_id}, dedupe_key="k", call_id=call_id) == first
    # Another call, or another task of the same call, is a job of its own.
    assert queue.enqueue("ok", {"call_id": other}, call_id=other).id != first.id
    assert queue.enqueue("flaky", {"call_id": call_id}, call_id=call_id).id != first.id
    # Running still holds the call; once it ended, a new job may start.
    claimed = queue.claim(W1)
    assert claimed is not None and claimed.id == first.id
    assert queue.enqueue("ok", {"call_id": call_id}, call_id=call_id).id == first.id
    done = queue.execute(claimed, W1)
    assert done.status is JobStatus.SUCCEEDED
    again = queue.enqueue("ok", {"call_id": call_id}, call_id=call_id)
    assert again.id != first.id and again.status is JobStatus.QUEUED
    assert len(queue.list_jobs()) == 4


def test_the_database_refuses_a_second_active_job_of_a_call(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock
) -> None:
    call_id = a_call(engine, clock)
    queue.enqueue("ok", {"call_id": call_id}, call_id=call_id)
    row = {
        "id": uuid.uuid4().hex,
        "task": "ok",
        "payload": "{}",
        "call_id": call_id,
        "attempts": 0,
        "max_attempts": 3,
        "run_after": clock.now,
        "created_at": clock.now,
        "updated_at": clock.now,
    }
    for status in ("queued", "running"):
        with pytest.raises(sa_exc.IntegrityError), engine.begin() as conn:
            conn.execute(insert(JobRow).values(**row, status=status))
    # A finished job of the same call is no conflict.
    with engine.begin() as conn:
        conn.execute(insert(JobRow).values(**row, status="failed"))


def test_an_enqueue_that_loses_the_race_returns_the_winners_job(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes look, see no job, and both insert: the unique index refuses the
    second insert, and its enqueue returns the first one's job."""
    call_id = a_call(engine, clock)
    first = queue.enqueue("ok", {"call_id": call_id}, call_id=call_id)
    looked: list[JobRecord | None] = []
    real = queue._active_job

    def stale_look(conn: Any, task: str, call: str) -> JobRecord | None:
        found = real(conn, task, call)
        looked.append(found)
        return None if len(looked) == 1 else found  # the first look came too early

    monkeypatch.setattr(queue, "_active_job", stale_look)
    assert queue.enqueue("ok", {"call_id": call_id}, call_id=call_id) == first
    assert looked == [first, first]
    assert [j.id for j in queue.list_jobs()] == [first.id]


def test_concurrent_enqueues_of_one_call_make_one_job(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock
) -> None:
    call_id = a_call(engine, clock)
    start = threading.Barrier(6)
    got: list[str] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        start.wait(10)
        try:
            got.append(queue.enqueue("ok", {"call_id": call_id}, call_id=call_id).id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enqueue) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(got) == 6 and len(set(got)) == 1
    assert [j.id for j in queue.list_jobs()] == got[:1]


def test_a_failed_job_is_superseded_by_a_later_success(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock, flaky: Flaky
) -> None:
    call_id, other = a_call(engine, clock), a_call(engine, clock)
    failed = queue.enqueue("flaky", {"call_id": call_id}, call_id=call_id, max_attempts=1)
    elsewhere = queue.enqueue("flaky", {"call_id": other}, call_id=other, max_attempts=1)
    assert queue.run_one(W1) is not None and queue.run_one(W1) is not None
    assert {j.id for j in queue.list_jobs(status="failed")} == {failed.id, elsewhere.id}
    # While the failure stands, retrying it is refused if another job of the call runs.
    clock.advance(1)
    flaky.healthy = True
    later = queue.enqueue("flaky", {"call_id": call_id}, call_id=call_id)
    with pytest.raises(InputError) as err:
        queue.retry(failed.id)
    assert str(err.value) == (
        f"job {failed.id} is not queued again: job {later.id} of the same call is queued; "
        "follow that one (callvault jobs list)"
    )
    clock.advance(1)
    done = queue.run_one(W1)
    assert done is not None and (done.id, done.status) == (later.id, JobStatus.SUCCEEDED)

    old = queue.get(failed.id)
    assert old.status is JobStatus.SUPERSEDED and old.done
    assert old.last_error == "ValueError: model crashed"  # kept: what went wrong then
    assert old.updated_at == clock.now
    assert [j.id for j in queue.list_jobs(status="failed")] == [elsewhere.id]
    with pytest.raises(InputError, match="superseded, not failed"):
        queue.retry(failed.id)
    with pytest.raises(InputError, match="is superseded; there is nothing to cancel"):
        queue.cancel(failed.id)


def test_a_queued_job_of_a_call_that_is_gone_is_cancelled_not_run(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock
) -> None:
    gone, kept = a_call(engine, clock), a_call(engine, clock)
    orphan = queue.enqueue("ok", {"call_id": gone}, call_id=gone)
    clock.advance(1)
    live = queue.enqueue("ok", {"call_id": kept}, call_id=kept)
    # Erased behind the queue's back (the erasure itself cancels; see the vault tests).
    with engine.begin() as conn:
        conn.execute(delete(CallRow).where(CallRow.id == gone))
    ran = queue.run_one(W1)
    assert ran is not None and ran.id == live.id and ran.status is JobStatus.SUCCEEDED
    cancelled = queue.get(orphan.id)
    assert (cancelled.status, cancelled.attempts) == (JobStatus.CANCELLED, 0)
    assert cancelled.last_error == CALL_GONE and cancelled.finished_at == clock.now
    assert queue.run_one(W1) is None


def test_a_job_whose_call_goes_while_it_runs_is_cancelled_not_retried(
    engine: Engine, queue: EmbeddedQueue, clock: FakeClock
) -> None:
    call_id = a_call(engine, clock)
    job = queue.enqueue("erasing", {"call_id": call_id}, call_id=call_id)
    ended = queue.run_one(W1)
    assert ended is not None and ended.id == job.id
    assert (ended.status, ended.attempts, ended.last_error) == (
        JobStatus.CANCELLED,
        1,
        CALL_GONE,
    )
    clock.advance(timedelta(hours=1).total_seconds())
    assert queue.run_one(W1) is None


def test_migration_0016_tidies_the_jobs_it_finds(engine: Engine, clock: FakeClock) -> None:
    """Jobs stored before 0016 get their call, duplicates are cancelled (the running one
    kept), a job of an erased call is cancelled and a failure followed by a success is
    superseded; downgrading turns superseded back into failed."""
    from alembic import command
    from sqlalchemy import column, select, table, text

    from callvault.vault._db import _alembic_config

    cfg = _alembic_config()
    writer = engine.execution_options(callvault_write=True)
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    call_a, call_b = a_call(engine, clock), a_call(engine, clock)
    old_jobs = table(
        "jobs",
        *(column(name) for name in ("id", "task", "payload", "status", "attempts")),
        *(column(name) for name in ("max_attempts", "run_after", "created_at", "updated_at")),
    )
    made: dict[str, str] = {}

    def job(name: str, call_id: str | None, status: str) -> None:
        clock.advance(1)
        made[name] = uuid.uuid4().hex
        payload = json.dumps({"call_id": call_id} if call_id else {"n": 1})
        with writer.begin() as conn:
            conn.execute(
                old_jobs.insert().values(
                    id=made[name],
                    task="process_call",
                    payload=payload,
                    status=status,
                    attempts=0,
                    max_attempts=3,
                    run_after=clock.now,
                    created_at=clock.now,
                    updated_at=clock.now,
                )
            )

    job("a_queued_first", call_a, "queued")
    job("a_running", call_a, "running")
    job("a_queued_later", call_a, "queued")
    job("b_failed", call_b, "failed")
    job("b_succeeded", call_b, "succeeded")
    job("b_failed_after", call_b, "failed")
    job("gone_queued", uuid.uuid4().hex, "queued")
    job("no_call", None, "queued")

    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    def states() -> dict[str, tuple[str, str | None, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(
                select(JobRow.id, JobRow.status, JobRow.call_id, JobRow.last_error)
            ).all()
        names = {v: k for k, v in made.items()}
        return {names[r[0]]: (r[1], r[2], r[3]) for r in rows}

    after = states()
    running = made["a_running"]
    assert after["a_running"] == ("running", call_a, None)
    assert after["a_queued_first"] == (
        "cancelled",
        call_a,
        f"Cancelled: job {running} of the same call runs",
    )
    assert after["a_queued_later"] == (
        "cancelled",
        call_a,
        f"Cancelled: job {running} of the same call was first",
    )
    assert after["b_failed"][:2] == ("superseded", call_b)
    assert after["b_succeeded"][:2] == ("succeeded", call_b)
    assert after["b_failed_after"][:2] == ("failed", call_b)  # it came after the success
    assert after["gone_queued"][0::2] == ("cancelled", CALL_GONE)
    assert after["no_call"] == ("queued", None, None)

    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT id, status FROM jobs")).all())
    assert statuses[made["b_failed"]] == "failed"
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert states()["b_failed"][0] == "superseded"
