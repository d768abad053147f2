"""The embedded queue: jobs are rows of the `jobs` table, run by in-process workers.

Claiming is atomic on both backends: SQLite writers take the database lock at `BEGIN
IMMEDIATE` (the `callvault_write` execution option), PostgreSQL claims with
`SELECT ... FOR UPDATE SKIP LOCKED`. Every write a worker makes about its job is guarded by
`status = 'running' AND locked_by = <worker>`, so a worker whose job was taken from it
(recovered after a lost heartbeat, or cancelled) cannot overwrite the job's newer state.

A job that works on a call (`call_id`) is one of at most one queued or running job per
task and call: the partial unique index `uq_jobs_active_task_call` enforces it, so
concurrent enqueues get the same job. A job whose call no longer exists is cancelled,
never run or retried (the erasure cancels it in its own transaction; a worker that finds
the call gone anyway cancels it). A success supersedes the failed jobs of its task and
call before it (issue 17).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, exists, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, RowMapping

from callvault.errors import InputError, NotFound
from callvault.jobs._base import Queue, Workers
from callvault.jobs._models import JobRow
from callvault.jobs._records import (
    ACTIVE,
    CALL_GONE,
    JobRecord,
    JobStatus,
    call_gone_values,
    worker_lost_values,
)
from callvault.jobs._registry import TaskRegistry
from callvault.vault import Base

__all__ = ["EmbeddedQueue", "make_worker_id"]

log = logging.getLogger("callvault.jobs")

Clock = Callable[[], datetime]

MAX_ERROR = 500  # characters of last_error; one line, no traceback
MAX_MESSAGE = 256  # jobs.progress_message is String(256)
MAX_DEDUPE_KEY = 128  # jobs.dedupe_key is String(128)
MAX_WORKER_ID = 64  # jobs.locked_by is String(64)
MAX_CALL_ID = 32  # jobs.call_id is String(32)

_REPLACEABLE = (JobStatus.FAILED.value, JobStatus.CANCELLED.value, JobStatus.SUPERSEDED.value)
_T: Table = JobRow.__table__  # type: ignore[assignment]  # declared as a FromClause
# The vault's calls, looked up by name: a job of a call that is gone is cancelled, not run.
_CALLS: Table = Base.metadata.tables["calls"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _host_token() -> str:
    """Names this machine boot and PID namespace, so that a pid in a worker id is only
    ever looked up where it means the same process: containers sharing a host name, or
    two machines with one name, get different tokens."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:16] or "localhost"
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        pid_ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return host  # not Linux: the lease alone decides
    return f"{host}~{boot}~{pid_ns}"


def make_worker_id(name: str | None = None) -> str:
    """`host-token:pid:name`, so `recover_stale` can tell a worker of a dead local process."""
    suffix = re.sub(r"[^A-Za-z0-9._-]", "-", name or uuid.uuid4().hex[:8])
    return f"{_host_token()}:{os.getpid()}:{suffix}"[:MAX_WORKER_ID]


def _local_worker_gone(worker_id: str | None) -> bool:
    """True only when the worker id names this machine, boot and PID namespace, and a
    process that no longer exists. Elsewhere only the lease can tell."""
    if not worker_id:
        return True
    parts = worker_id.split(":")
    token = _host_token()
    if len(parts) < 3 or parts[0] != token or "~" not in token:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, owned by someone else
    return False


def one_line(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_error(exc: BaseException) -> str:
    """`ClassName: message` on one line, truncated; never a traceback."""
    message = one_line(str(exc), MAX_ERROR)
    name = type(exc).__name__
    return one_line(f"{name}: {message}" if message else name, MAX_ERROR)


class _LeaseLost(Exception):
    """Raised into a task whose job is no longer this worker's (recovered or cancelled)."""


class _Run:
    """What one worker knows about the job it is running: progress and a heartbeat."""

    def __init__(
        self, queue: EmbeddedQueue, job_id: str, worker_id: str, heartbeat_interval: float
    ) -> None:
        self.queue = queue
        self.job_id = job_id
        self.worker_id = worker_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._fraction: float | None = None
        self._message: str | None = None
        self._dirty = False
        self._last_write = -math.inf
        self._interval = heartbeat_interval
        self._thread = threading.Thread(
            target=self._beat, name=f"callvault-job-heartbeat-{job_id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def progress(self, fraction: float, message: str = "") -> None:
        """The callback handed to the task. Raises `_LeaseLost` when the job is gone."""
        if self.lost.is_set():
            raise _LeaseLost(self.job_id)
        if not isinstance(fraction, int | float) or math.isnan(fraction):
            raise InputError(f"progress must be a number between 0 and 1, not {fraction!r}")
        with self._lock:
            self._fraction = min(1.0, max(0.0, float(fraction)))
            self._message = one_line(str(message), MAX_MESSAGE) if message else None
            self._dirty = True
            due = time.monotonic() - self._last_write >= self.queue.progress_interval
        if due:
            self.flush()
        if self.lost.is_set():
            raise _LeaseLost(self.job_id)

    def flush(self) -> None:
        with self._lock:
            values: dict[str, Any] = {}
            if self._dirty:
                values = {"progress": self._fraction, "progress_message": self._message}
                self._dirty = False
            self._last_write = time.monotonic()
        if not self.queue._touch(self.job_id, self.worker_id, values):
            self.lost.set()

    def pending(self) -> dict[str, Any]:
        with self._lock:
            if not self._dirty:
                return {}
            return {"progress": self._fraction, "progress_message": self._message}

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except sa_exc.SQLAlchemyError as exc:
                # The database is away for a moment; the lease gives us time to retry.
                log.warning("job %s: heartbeat failed (%s)", self.job_id, type(exc).__name__)
            if self.lost.is_set():
                return


class EmbeddedQueue(Queue):
    """Jobs in the `jobs` table of the metadata database, run by `Worker` threads.

    `lease`: seconds without a heartbeat after which a running job counts as abandoned.
    Workers beat every `lease / 4` seconds while a task runs, whether or not it reports
    progress. A failed attempt is retried after `backoff_base * 2 ** attempts` seconds,
    at most `backoff_max`, until `max_attempts` starts; then the job is `failed`. A task
    whose exception has `retryable = False` fails its job at once.
    """

    def __init__(
        self,
        engine: Engine,
        registry: TaskRegistry,
        *,
        clock: Clock = _utcnow,
        lease: float = 60.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        progress_interval: float = 0.5,
        heartbeat_interval: float | None = None,
    ) -> None:
        if lease <= 0 or backoff_base < 0 or backoff_max < 0 or progress_interval < 0:
            raise InputError("lease must be positive; backoff and intervals not negative")
        self.engine = engine
        self.registry = registry
        self.clock = clock
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.progress_interval = progress_interval
        self.heartbeat_interval = heartbeat_interval or lease / 4
        self._writer = engine.execution_options(callvault_write=True)

    # -- the Queue interface -------------------------------------------------------------

    def enqueue(
        self,
        task: str,
        payload: Mapping[str, Any],
        *,
        dedupe_key: str | None = None,
        max_attempts: int = 3,
        call_id: str | None = None,
    ) -> JobRecord:
        self.registry.get(task)  # fail closed at the door as well as at run time
        if max_attempts < 1:
            raise InputError(f"max_attempts must be at least 1, not {max_attempts}")
        if dedupe_key is not None and not 0 < len(dedupe_key) <= MAX_DEDUPE_KEY:
            raise InputError(f"dedupe_key must have 1 to {MAX_DEDUPE_KEY} characters")
        if call_id is not None and not 0 < len(call_id) <= MAX_CALL_ID:
            raise InputError(f"call_id must have 1 to {MAX_CALL_ID} characters")
        try:
            body = json.dumps(dict(payload), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"the payload of task {task!r} is not JSON ({type(exc).__name__}); pass ids "
                "and plain values, not objects"
            ) from None
        for _ in range(3):
            try:
                return self._enqueue(task, body, dedupe_key, max_attempts, call_id)
            except sa_exc.IntegrityError:
                # PostgreSQL: another enqueue inserted the same dedupe_key, or a job of
                # the same task and call, first; ours rolled back, and the next round
                # returns theirs.
                continue
        raise InputError(f"could not enqueue task {task!r}: dedupe_key is contended")

    def _enqueue(
        self,
        task: str,
        body: str,
        dedupe_key: str | None,
        max_attempts: int,
        call_id: str | None,
    ) -> JobRecord:
        now = self.clock()
        with self._writer.begin() as conn:
            if call_id is not None:
                active = self._active_job(conn, task, call_id)
                if active is not None:
                    log.debug("job %s: enqueue joined the job already queued", active.id)
                    return active
            if dedupe_key is not None:
                row = (
                    conn.execute(select(_T).where(_T.c.dedupe_key == dedupe_key).with_for_update())
                    .mappings()
                    .first()
                )
                if row is not None and row["status"] not in _REPLACEABLE:
                    log.debug("job %s: enqueue deduplicated", row["id"])
                    return _record(row)
                if row is not None:
                    # The key is unique; a failed or cancelled job gives it up to its successor.
                    conn.execute(update(_T).where(_T.c.id == row["id"]).values(dedupe_key=None))
            job_id = uuid.uuid4().hex
            conn.execute(
                _T.insert().values(
                    id=job_id,
                    task=task,
                    payload=body,
                    dedupe_key=dedupe_key,
                    call_id=call_id,
                    status=JobStatus.QUEUED.value,
                    attempts=0,
                    max_attempts=max_attempts,
                    run_after=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            record = self._get(conn, job_id)
        log.info("job %s: enqueued task %s", job_id, task)
        self._queued([(record, 0.0)])
        return record

    def get(self, job_id: str) -> JobRecord:
        with self.engine.connect() as conn:
            return self._get(conn, job_id)

    def list_jobs(
        self, status: JobStatus | str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        query = select(_T).order_by(_T.c.created_at.desc(), _T.c.id)
        if status is not None:
            query = query.where(_T.c.status == _status(status).value)
        if limit is not None:
            if limit < 0:
                raise InputError(f"limit must not be negative, not {limit}")
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def retry(self, job_id: str) -> JobRecord:
        now = self.clock()
        with self._writer.begin() as conn:
            job = self._get(conn, job_id, lock=True)
            if job.status is not JobStatus.FAILED:
                raise InputError(
                    f"job {job_id} is {job.status.value}, not failed; only a failed job can "
                    "be retried"
                )
            if job.call_id is not None:
                active = self._active_job(conn, job.task, job.call_id)
                if active is not None:
                    raise InputError(
                        f"job {job_id} is not queued again: job {active.id} of the same call "
                        f"is {active.status.value}; follow that one (callvault jobs list)"
                    )
            conn.execute(
                update(_T)
                .where(_T.c.id == job_id)
                .values(
                    status=JobStatus.QUEUED.value,
                    attempts=0,
                    worker_losses=0,
                    run_after=now,
                    locked_by=None,
                    heartbeat_at=None,
                    progress=None,
                    progress_message=None,
                    updated_at=now,
                    finished_at=None,
                )
            )
            record = self._get(conn, job_id)
        log.info("job %s: queued again by retry", job_id)
        self._queued([(record, 0.0)])
        return record

    def cancel(self, job_id: str) -> JobRecord:
        now = self.clock()
        with self._writer.begin() as conn:
            job = self._get(conn, job_id, lock=True)
            if job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED, JobStatus.SUPERSEDED):
                raise InputError(f"job {job_id} is {job.status.value}; there is nothing to cancel")
            conn.execute(
                update(_T)
                .where(_T.c.id == job_id)
                .values(
                    status=JobStatus.CANCELLED.value,
                    locked_by=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            record = self._get(conn, job_id)
        log.info("job %s: cancelled (was %s)", job_id, job.status.value)
        return record

    # -- workers -------------------------------------------------------------------------

    def claim(self, worker_id: str) -> JobRecord | None:
        """Take the oldest due queued job for `worker_id`, or None when there is none."""
        if not worker_id or len(worker_id) > MAX_WORKER_ID:
            raise InputError(f"worker_id must have 1 to {MAX_WORKER_ID} characters")
        now = self.clock()
        call_gone = _T.c.call_id.is_not(None) & ~exists().where(_CALLS.c.id == _T.c.call_id)
        with self._writer.begin() as conn:
            while True:
                row = conn.execute(
                    select(_T.c.id, call_gone)
                    .where(_T.c.status == JobStatus.QUEUED.value, _T.c.run_after <= now)
                    .order_by(_T.c.run_after, _T.c.created_at, _T.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True, of=_T)
                ).first()
                if row is None:
                    return None
                job_id: str = row[0]
                if not row[1]:
                    break
                # The call was erased by a path that left its job queued: nothing to do.
                conn.execute(update(_T).where(_T.c.id == job_id).values(**call_gone_values(now)))
                log.info("job %s: cancelled, its call is gone", job_id)
            return self._take(conn, job_id, worker_id, now)

    def _take(
        self, conn: Connection, job_id: str, worker_id: str, now: datetime, **values: Any
    ) -> JobRecord:
        """Mark `job_id` running for `worker_id` (its next attempt, unless `values` say
        which) inside the claiming transaction; the job as claimed."""
        conn.execute(
            update(_T)
            .where(_T.c.id == job_id)
            .values(
                status=JobStatus.RUNNING.value,
                attempts=values.pop("attempts", _T.c.attempts + 1),
                locked_by=worker_id,
                heartbeat_at=now,
                progress=None,
                progress_message=None,
                updated_at=now,
                **values,
            )
        )
        record = self._get(conn, job_id)
        log.info("job %s: claimed by %s (attempt %d)", job_id, worker_id, record.attempts)
        return record

    def run_one(self, worker_id: str) -> JobRecord | None:
        """Claim one due job and run it here; the job as it ended, or None when idle."""
        job = self.claim(worker_id)
        return None if job is None else self.execute(job, worker_id)

    def execute(self, job: JobRecord, worker_id: str) -> JobRecord:
        """Run a job `claim` gave to `worker_id` and store how it ended."""
        try:
            task = self.registry.get(job.task)
        except NotFound as exc:
            log.error("job %s: unknown task %s; failed", job.id, job.task)
            self._end(job, worker_id, JobStatus.FAILED, error=str(exc), final=True)
            return self.get(job.id)
        run = _Run(self, job.id, worker_id, self.heartbeat_interval)
        run.start()
        started = time.monotonic()
        failure: Exception | None = None
        try:
            task(dict(job.payload), run.progress)
        except _LeaseLost:
            run.lost.set()
        except Exception as exc:  # noqa: BLE001 - any failure of a task is the job's failure
            failure = exc
        finally:
            run.stop()
        if run.lost.is_set():
            log.warning("job %s: taken from %s while running; result dropped", job.id, worker_id)
        elif failure is not None:
            log.warning(
                "job %s: attempt %d of task %s raised %s",
                job.id,
                job.attempts,
                job.task,
                type(failure).__name__,
            )
            if job.call_id is not None and not self._call_exists(job.call_id):
                # Its call was erased while it ran: cancelled, not retried (issue 17).
                self._end(job, worker_id, JobStatus.CANCELLED, error=CALL_GONE, extra=run)
            else:
                # An error that says retrying is useless (`retryable = False`) fails the
                # job now.
                final = getattr(failure, "retryable", True) is False
                self._end(
                    job,
                    worker_id,
                    JobStatus.FAILED,
                    error=describe_error(failure),
                    final=final,
                    extra=run,
                )
        else:
            self._end(job, worker_id, JobStatus.SUCCEEDED, extra=run)
            log.info("job %s: succeeded in %.1f s", job.id, time.monotonic() - started)
        return self.get(job.id)

    def recover_stale(self, lease: float | None = None) -> list[JobRecord]:
        """Requeue running jobs whose heartbeat is older than `lease` seconds (default: the
        queue's) or whose worker was a process of this host that no longer exists. A job
        that has used up its attempts fails instead. Returns the jobs changed."""
        now = self.clock()
        limit = now - timedelta(seconds=self.lease if lease is None else lease)
        changed: list[str] = []
        with self._writer.begin() as conn:
            rows = conn.execute(
                select(
                    _T.c.id, _T.c.locked_by, _T.c.heartbeat_at, _T.c.attempts, _T.c.worker_losses
                )
                .where(_T.c.status == JobStatus.RUNNING.value)
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, worker, beat, attempts, losses in rows:
                stale = beat is None or beat < limit
                if not stale and not _local_worker_gone(worker):
                    continue
                why = "no heartbeat within the lease" if stale else "its worker process is gone"
                values = worker_lost_values(attempts, losses, now, why)
                conn.execute(update(_T).where(_T.c.id == job_id).values(**values))
                log.warning("job %s: recovered from a lost worker (%s)", job_id, why)
                changed.append(job_id)
            records = [self._get(conn, job_id) for job_id in changed]
        self._queued([(r, 0.0) for r in records if r.status is JobStatus.QUEUED])
        return records

    def known_dedupe_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):  # stay under bound-parameter limits
                batch = list(keys[start : start + 500])
                found.update(
                    conn.execute(select(_T.c.dedupe_key).where(_T.c.dedupe_key.in_(batch)))
                    .scalars()
                    .all()
                )
        return found

    def count_pending(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_T)
                    .where(_T.c.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
                ).scalar_one()
            )

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T.c.status, func.count()).group_by(_T.c.status))
            return {str(status): int(count) for status, count in rows}

    def workers(self, n_threads: int = 2, *, nice: int = 0, periodic: bool = False) -> Workers:
        # _worker imports this module (make_worker_id), so it is imported when used.
        from callvault.jobs._worker import WorkerPool

        return WorkerPool(self, n_threads, nice=nice, periodic=periodic)

    # -- internals -----------------------------------------------------------------------

    def _queued(self, jobs: Sequence[tuple[JobRecord, float]]) -> None:
        """Called after the commit that queued `jobs` (each with the seconds until it is
        due). The embedded workers poll the table, so there is nothing to say; a queue
        with a broker sends each job a wake-up here."""

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the next attempt after `attempts` failed starts."""
        return float(min(self.backoff_max, self.backoff_base * 2.0 ** min(attempts, 62)))

    def _touch(self, job_id: str, worker_id: str, values: Mapping[str, Any]) -> bool:
        """Heartbeat (and progress); False when the job is no longer this worker's."""
        now = self.clock()
        with self._writer.begin() as conn:
            result = conn.execute(
                _owned(job_id, worker_id).values(heartbeat_at=now, updated_at=now, **values)
            )
            return bool(result.rowcount)

    def _end(
        self,
        job: JobRecord,
        worker_id: str,
        outcome: JobStatus,
        *,
        error: str | None = None,
        final: bool = False,
        extra: _Run | None = None,
    ) -> None:
        now = self.clock()
        requeued: float | None = None  # seconds until the next attempt, when there is one
        values: dict[str, Any] = dict(extra.pending()) if extra is not None else {}
        values.update(locked_by=None, heartbeat_at=now, updated_at=now)
        if outcome is JobStatus.SUCCEEDED:
            values.update(status=outcome.value, progress=1.0, finished_at=now)
        elif outcome is JobStatus.CANCELLED:
            values.update(status=outcome.value, last_error=error, finished_at=now)
        elif final or job.attempts >= job.max_attempts:
            values.update(status=JobStatus.FAILED.value, last_error=error, finished_at=now)
        else:
            delay = self.backoff(job.attempts)
            requeued = delay
            values.update(
                status=JobStatus.QUEUED.value,
                last_error=error,
                run_after=now + timedelta(seconds=delay),
            )
        with self._writer.begin() as conn:
            result = conn.execute(_owned(job.id, worker_id).values(**values))
            if result.rowcount and outcome is JobStatus.SUCCEEDED and job.call_id is not None:
                # The call is done: its earlier failures are history, not open faults.
                superseded = conn.execute(
                    update(_T)
                    .where(
                        _T.c.task == job.task,
                        _T.c.call_id == job.call_id,
                        _T.c.status == JobStatus.FAILED.value,
                        _T.c.id != job.id,
                    )
                    .values(status=JobStatus.SUPERSEDED.value, updated_at=now)
                ).rowcount
                if superseded:
                    log.info("job %s: superseded %d failed job(s) before it", job.id, superseded)
        if not result.rowcount:
            log.warning("job %s: taken from %s before it ended; result dropped", job.id, worker_id)
        elif requeued is not None:
            self._queued([(job, requeued)])

    def _active_job(self, conn: Connection, task: str, call_id: str) -> JobRecord | None:
        """The queued or running job of `task` for `call_id`, locked, or None."""
        row = (
            conn.execute(
                select(_T)
                .where(_T.c.task == task, _T.c.call_id == call_id, _T.c.status.in_(ACTIVE))
                .with_for_update()
            )
            .mappings()
            .first()
        )
        return None if row is None else _record(row)

    def _call_exists(self, call_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(_CALLS.c.id).where(_CALLS.c.id == call_id)).first()
        return found is not None

    def _get(self, conn: Connection, job_id: str, *, lock: bool = False) -> JobRecord:
        query = select(_T).where(_T.c.id == job_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"job {job_id} does not exist; `callvault jobs list` shows the jobs")
        return _record(row)


def _owned(job_id: str, worker_id: str) -> Any:
    return update(_T).where(
        _T.c.id == job_id,
        _T.c.status == JobStatus.RUNNING.value,
        _T.c.locked_by == worker_id,
    )


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise InputError(f"unknown job status {value!r}; use one of {known}") from None


def _record(row: RowMapping) -> JobRecord:
    return JobRecord(
        id=row["id"],
        task=row["task"],
        payload=json.loads(row["payload"]),
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        progress=row["progress"],
        progress_message=row["progress_message"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        call_id=row["call_id"],
    )
