"""`callvault worker`: run jobs in the foreground (a Celery worker, or embedded threads)."""

from __future__ import annotations

import sys

import click

from callvault.cli._common import config_of

__all__ = ["worker"]


@click.command()
@click.option(
    "--queues",
    metavar="asr,analysis,...",
    help="Queues to take jobs from, separated by commas: asr, analysis, redaction, webhooks, "
    "maintenance. Default: all of them. The embedded queue always runs all.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Jobs run at once: pool processes (Celery) or threads (embedded). "
    "Default: CALLVAULT_WORKERS.",
)
@click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Level of the Celery worker's own log.",
)
@click.option(
    "--tasks",
    "tasks_spec",
    metavar="MODULE:FUNCTION",
    hidden=True,
    help="For tests and plugins: the function (Context -> TaskRegistry) giving the tasks.",
)
@click.pass_context
def worker(
    ctx: click.Context,
    queues: str | None,
    concurrency: int | None,
    loglevel: str,
    tasks_spec: str | None,
) -> None:
    """Run jobs until stopped (SIGTERM lets running jobs finish).

    With CALLVAULT_QUEUE set to a Celery broker URL (redis://, amqp://) this is a Celery
    worker for the queues named; with the embedded queue it runs worker threads that take
    jobs from the database, for every queue.
    """
    # Imported here: Celery loads only in the process that runs a worker.
    from callvault.services.jobs import task_registry
    from callvault.services.workers import load_task_source, parse_queues, run_worker

    names = parse_queues(queues)
    tasks = load_task_source(tasks_spec) if tasks_spec else task_registry
    code = run_worker(config_of(ctx), names, concurrency, loglevel=loglevel.upper(), tasks=tasks)
    sys.exit(code)
