"""Commands around processing: process, jobs, models; and progress display for them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from callvault.analysis import list_models, pull_model
from callvault.cli._common import Group, config_of, console, echo_json
from callvault.config import Config
from callvault.errors import CallvaultError
from callvault.services import (
    JobRecord,
    JobStatus,
    list_jobs,
    open_context,
    queue_missing,
    reprocess_call,
    retry_job,
    run_jobs,
    transcript_info,
)

__all__ = ["jobs", "models", "process", "wait_for_jobs"]


@contextmanager
def _job_progress() -> Iterator[Callable[[JobRecord], None]]:
    """A Rich bar per job on a terminal; plain lines on stderr otherwise."""
    if sys.stderr.isatty():
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(stderr=True)) as bar:
            tasks: dict[str, TaskID] = {}

            def show(job: JobRecord) -> None:
                if job.id not in tasks:
                    tasks[job.id] = bar.add_task(f"job {job.id[:8]}", total=1.0)
                stage = job.progress_message or job.status
                bar.update(
                    tasks[job.id],
                    completed=job.progress or 0.0,
                    description=f"job {job.id[:8]} {stage}",
                )

            yield show
        return
    last: dict[str, tuple[str, int]] = {}

    def line(job: JobRecord) -> None:
        state = (job.progress_message or str(job.status), int((job.progress or 0.0) * 10))
        if last.get(job.id) != state:
            last[job.id] = state
            click.echo(f"job {job.id}: {state[0]} {state[1] * 10}%", err=True)

    yield line


def wait_for_jobs(config: Config, job_ids: Sequence[str]) -> list[JobRecord]:
    """Run the jobs in this process with progress shown; raise when one of them failed."""
    with open_context(config) as svc, _job_progress() as show:
        records = run_jobs(svc, job_ids, on_progress=show)
    for record in records:
        if record.status != JobStatus.SUCCEEDED:
            raise CallvaultError(
                f"job {record.id} ended {record.status}: {record.last_error or 'no reason given'};"
                f" `callvault jobs retry {record.id}` runs it again"
            )
    return records


@click.command(cls=click.Command)
@click.argument("call_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def process(ctx: click.Context, call_id: str, as_json: bool) -> None:
    """Transcribe a call (again), showing progress; the transcript replaces the old one.
    While the call has a queued or running job, this follows that job (one at a time)."""
    config = config_of(ctx)
    with open_context(config) as svc:
        job = reprocess_call(svc, call_id)
    wait_for_jobs(config, [job.id])
    with open_context(config) as svc:
        info = transcript_info(svc, call_id)
    assert info is not None
    summary = {
        "call_id": call_id,
        "job_id": job.id,
        "status": info.status,
        "language": info.language,
        "utterances": info.utterances,
        "words": info.words,
        "model": f"{info.model_name}@{info.model_version}",
    }
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"{call_id}  {info.status}  {info.language or '-'}  {info.utterances} "
            f"utterances, {info.words} words  ({summary['model']})"
        )


@click.group(cls=Group)
def jobs() -> None:
    """The processing queue."""


@jobs.command(name="list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only these.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs_list(ctx: click.Context, status: str | None, limit: int | None, as_json: bool) -> None:
    """List jobs with their state, progress and, for failures, the reason."""
    config = config_of(ctx)
    with open_context(config) as svc:
        records = list_jobs(svc, status=status, limit=limit)
    if as_json:
        echo_json({"jobs": [r.to_json() for r in records]})
        return
    table = Table("job", "task", "status", "attempts", "progress", "reason")
    for r in records:
        table.add_row(
            r.id,
            r.task,
            str(r.status),
            f"{r.attempts}/{r.max_attempts}",
            f"{(r.progress or 0) * 100:.0f}%",
            r.last_error or "",
        )
    console().print(table)


@jobs.command(name="run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs_run(ctx: click.Context, as_json: bool) -> None:
    """Run every queued job here, with progress, until none is left.

    First it queues the transcription of any stored call that has neither a transcript
    nor a job (after a crash between storing and queueing), and takes back jobs whose
    worker died.
    """
    config = config_of(ctx)
    with open_context(config) as svc:
        added, waiting = queue_missing(svc)
    if added:
        click.echo(f"queued {len(added)} call(s) that had no transcription job", err=True)
    records = wait_for_jobs(config, [job.id for job in waiting]) if waiting else []
    if as_json:
        echo_json({"queued": [r.id for r in added], "jobs": [r.to_json() for r in records]})
    else:
        click.echo(f"{len(records)} job(s) done")


@jobs.command(name="retry")
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Run it now, in this process, and wait.")
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: str, wait: bool) -> None:
    """Queue a failed job again."""
    config = config_of(ctx)
    with open_context(config) as svc:
        record = retry_job(svc, job_id)
    click.echo(f"job {record.id} queued again")
    if wait:
        wait_for_jobs(config, [record.id])
        click.echo(f"job {record.id} succeeded")


@click.group(cls=Group)
def models() -> None:
    """Speech models."""


@models.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_list(ctx: click.Context, as_json: bool) -> None:
    """Models callvault knows, whether they are installed, and for which languages."""
    rows = list_models(config_of(ctx).model_cache)
    if as_json:
        echo_json(
            {
                "models": [
                    {
                        "name": m.name,
                        "version": m.version,
                        "installed": m.installed,
                        "path": str(m.path) if m.path else None,
                        "languages": list(m.languages),
                    }
                    for m in rows
                ]
            }
        )
        return
    table = Table("model", "version", "installed", "languages", "path")
    for m in rows:
        table.add_row(
            m.name,
            m.version or "-",
            "yes" if m.installed else "no",
            ", ".join(m.languages),
            str(m.path or ""),
        )
    console().print(table)


@models.command(name="pull")
@click.argument("name")
@click.pass_context
def models_pull(ctx: click.Context, name: str) -> None:
    """Download a Whisper model from the public model hub (the only command that does)."""
    path = pull_model(name, cache_dir=config_of(ctx).model_cache)
    click.echo(f"{name} is in {path}; use it with CALLVAULT_ASR_MODELS=LANG={path}")
