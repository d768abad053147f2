"""`callvault worker` processes on a Celery broker (issue 19): SIGKILL a worker or one of
its pool processes mid-job and the job is finished by another; a Redis stop loses no job;
SIGTERM is a clean exit; bad queue names are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _celery_helpers import RedisServer, registry, wait_for
from click.testing import CliRunner

from callvault.cli import cli
from callvault.config import Config
from callvault.jobs import CeleryQueue, EmbeddedQueue, JobStatus
from callvault.vault import Vault

ROOT = Path(__file__).resolve().parents[2]
LEASE = 5  # seconds: CALLVAULT_JOB_LEASE of the workers, its smallest value


class Workers:
    """`callvault worker` child processes, each in a session of its own so that SIGKILL
    takes its pool processes too (as the OOM killer or a lost machine would)."""

    def __init__(self, config: Config, broker: str, logs: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
        self.env.update(
            CALLVAULT_DATA_DIR=str(config.data_dir),
            CALLVAULT_QUEUE=broker,
            CALLVAULT_JOB_LEASE=str(LEASE),
            CALLVAULT_ACTOR=config.actor,
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests" / "jobs")]),
        )
        if config.database_url:
            self.env["CALLVAULT_DATABASE_URL"] = config.database_url
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"worker-{name}.log", "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "callvault",
                    "worker",
                    "--queues",
                    "asr,analysis",
                    "--concurrency",
                    "1",
                    "--tasks",
                    "_celery_helpers:tasks",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)


@pytest.fixture
def workers(
    config: Config, vault: Vault, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Workers]:
    found = Workers(config, redis_server.url, tmp_path)
    yield found
    found.kill_all()


@pytest.mark.slow
def test_sigkill_mid_job_gives_the_job_to_another_worker(
    vault: Vault, workers: Workers, redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = CeleryQueue(vault.engine, registry(), redis_server.url, lease=LEASE)
    started, release = tmp_path / "started", tmp_path / "release"
    first = workers.start("a")
    job = queue.enqueue("hold", {"started": str(started), "release": str(release)})

    def lines() -> list[str]:
        return started.read_text().split() if started.exists() else []

    wait_for(lambda: len(lines()) == 1, 90, "the first worker to start the job")
    wait_for(lambda: queue.get(job.id).progress == 0.5, 30, "the job's progress")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(30)
    assert queue.get(job.id).status is JobStatus.RUNNING  # until someone notices

    second = workers.start("b")
    wait_for(lambda: len(lines()) == 2, 90, "the second worker to take the job over")
    assert lines()[0] != lines()[1]  # another process
    release.touch()
    done = queue.wait(job.id, 60)
    # the killed run was given back: attempt 1, one lost worker
    assert (done.status, done.attempts, done.progress) == (JobStatus.SUCCEEDED, 1, 1.0)
    assert done.last_error is not None and "lost 1" in done.last_error
    assert queue.counts() == {"succeeded": 1}

    # SIGTERM is a warm shutdown: the worker exits cleanly.
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0


def test_a_pool_process_killed_mid_job_is_replaced_and_the_job_resumes(
    vault: Vault, workers: Workers, redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = CeleryQueue(vault.engine, registry(), redis_server.url, lease=LEASE)
    marker, done_file = tmp_path / "marker", tmp_path / "done"
    worker = workers.start("a")
    job = queue.enqueue("resumable", {"marker": str(marker), "done": str(done_file)})
    # The pool process SIGKILLs itself on the first attempt; the worker gives the message
    # back (task_reject_on_worker_lost) and its next pool process resumes the job.
    done = queue.wait(job.id, 90)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)  # the lost run given back
    assert marker.exists() and done_file.exists()
    assert worker.poll() is None  # the worker itself lives on


@pytest.mark.slow
def test_jobs_queued_while_redis_is_down_run_once_it_is_back(
    vault: Vault, workers: Workers, redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = CeleryQueue(vault.engine, registry(), redis_server.url, lease=LEASE)
    log = tmp_path / "runs.log"
    workers.start("a")
    first = queue.enqueue("record", {"log": str(log), "n": 1})
    assert queue.wait(first.id, 90).status is JobStatus.SUCCEEDED
    # Stopped without persistence: every message it held is lost, as on a lost machine.
    redis_server.stop()
    during = [queue.enqueue("record", {"log": str(log), "n": n}) for n in (2, 3)]
    assert {queue.get(job.id).status for job in during} == {JobStatus.QUEUED}
    redis_server.start()
    done = [queue.wait(job.id, 90) for job in during]
    assert [(job.status, job.attempts) for job in done] == [(JobStatus.SUCCEEDED, 1)] * 2
    assert sorted(log.read_text().split()) == ["1", "2", "3"]
    assert queue.counts() == {"succeeded": 3}


def test_worker_on_the_embedded_queue_runs_jobs_until_sigterm(
    config: Config, vault: Vault, tmp_path: Path
) -> None:
    workers = Workers(config, "embedded", tmp_path)
    queue = EmbeddedQueue(vault.engine, registry())
    log = tmp_path / "runs.log"
    process = workers.start("embedded")
    try:
        job = queue.enqueue("record", {"log": str(log), "n": 3})
        done = queue.wait(job.id, 90)
        assert (done.status, done.progress) == (JobStatus.SUCCEEDED, 1.0)
        assert log.read_text() == "3\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        workers.kill_all()


def test_unknown_queue_names_are_refused(tmp_path: Path) -> None:
    env = {"CALLVAULT_DATA_DIR": str(tmp_path), "CALLVAULT_QUEUE": "redis://127.0.0.1:1/0"}
    result = CliRunner().invoke(cli, ["worker", "--queues", "asr,gpu"], env=env)
    assert result.exit_code != 0
    assert "unknown queue(s) gpu; use some of asr, analysis, redaction, webhooks, maintenance" in (
        result.output
    )
