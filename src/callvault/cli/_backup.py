"""`callvault backup` and `callvault restore` (issue 21): thin, each calls one service."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.services import (
    create_backup,
    list_backups,
    make_identity,
    open_context,
    prune_backups,
    restore_backup,
    verify_backup,
)

__all__ = ["backup", "restore"]

_STAGES = {
    "database": "database snapshot",
    "objects": "blobs",
    "files": "set files",
    "replay": "erasures replayed",
}


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar per stage on a terminal (stderr); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total or 1)
            bar.update(tasks[stage], completed=done, total=total or 1)

        yield step


@click.group(cls=Group)
def backup() -> None:
    """Backups that keep the keys sealed and erasures erased (docs/backup.md)."""


@backup.command(name="create")
@click.option("--to", "to", metavar="DIR|s3://BUCKET/PREFIX", help="Where (CALLVAULT_BACKUP_TO).")
@click.option(
    "--incremental", is_flag=True, help="Copy only blobs the newest complete backup lacks."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup_create(ctx: click.Context, to: str | None, incremental: bool, as_json: bool) -> None:
    """Back up the database, blobs, audit chain and erasure ledger, online.

    The key material goes in sealed to CALLVAULT_BACKUP_RECIPIENT and/or
    CALLVAULT_BACKUP_PASSPHRASE only; the signed manifest is written last.
    """
    with _progress(as_json) as step, open_context(config_of(ctx)) as svc:
        result = create_backup(svc, to=to, incremental=incremental, progress=step)
    if as_json:
        echo_json(result.to_json())
        return
    kind = f"incremental on {result.parent}" if result.incremental else "full"
    click.echo(
        f"backup {result.set_id} ({kind}) written to {result.target}: {result.calls} call(s), "
        f"{result.objects} blob(s), {result.objects_copied} copied, "
        f"{result.bytes_written / 1e6:.1f} MB in {result.seconds:.1f} s"
    )
    if result.erased_during:
        click.echo(
            f"{len(result.erased_during)} blob(s) were erased while the backup ran; the "
            "erasure ledger in the backup erases them again at restore"
        )


@backup.command(name="verify")
@click.argument("source", required=False)
@click.option("--backup", "set_id", metavar="ID", help="This set (default: the newest).")
@click.option("--all", "all_sets", is_flag=True, help="Every set of SOURCE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup_verify(
    ctx: click.Context, source: str | None, set_id: str | None, all_sets: bool, as_json: bool
) -> None:
    """Check a backup without restoring it; exit 1 and name what is wrong."""
    with _progress(as_json) as step:
        reports = verify_backup(
            config_of(ctx), source, set_id=set_id, all_sets=all_sets, progress=step
        )
    ok = all(r.ok for r in reports)
    if as_json:
        echo_json({"ok": ok, "backups": [r.to_json() for r in reports]})
        ctx.exit(0 if ok else 1)
    for report in reports:
        for fault in report.faults:
            click.echo(f"FAULT  {report.set_id}  {fault.where}: {fault.message}")
        for note in report.skipped:
            click.echo(f"note   {report.set_id}  {note}")
        if report.ok:
            counts = ", ".join(
                f"{n} {what.replace('_', ' ')}" for what, n in report.checked.items()
            )
            click.echo(f"ok     {report.set_id}: {counts}")
        else:
            click.echo(f"BAD    {report.set_id}: {len(report.faults)} fault(s)")
    ctx.exit(0 if ok else 1)


@backup.command(name="list")
@click.argument("source", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup_list(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """The backups in SOURCE (default CALLVAULT_BACKUP_TO), oldest first."""
    sets = list_backups(config_of(ctx), source)
    if as_json:
        echo_json({"backups": [s.to_json() for s in sets]})
        return
    table = Table("id", "created", "state", "kind", "calls", "blobs", "size")
    for info in sets:
        doc = info.to_json()
        if not info.complete:
            table.add_row(info.set_id, doc["created_at"], "INCOMPLETE", "", "", "", "")
            continue
        kind = "incremental" if doc["incremental"] else "full"
        table.add_row(
            info.set_id,
            doc["created_at"],
            "complete",
            kind,
            str(doc["calls"]),
            str(doc["objects"]),
            f"{doc['bytes'] / 1e6:.1f} MB",
        )
    console().print(table)


@backup.command(name="prune")
@click.argument("source", required=False)
@click.option("--keep-daily", type=click.IntRange(min=0), help="CALLVAULT_BACKUP_KEEP_DAILY.")
@click.option("--keep-weekly", type=click.IntRange(min=0), help="CALLVAULT_BACKUP_KEEP_WEEKLY.")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup_prune(
    ctx: click.Context,
    source: str | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete the backups the retention does not keep, and blobs no kept backup needs."""
    result = prune_backups(
        config_of(ctx), source, daily=keep_daily, weekly=keep_weekly, dry_run=dry_run
    )
    if as_json:
        echo_json(result.to_json())
        return
    verb = "would delete" if dry_run else "deleted"
    for set_id in result.deleted:
        click.echo(f"{verb}  {set_id}")
    for set_id in result.incomplete_deleted:
        click.echo(f"{verb}  {set_id} (incomplete)")
    for note in result.notes:
        click.echo(f"note    {note}")
    click.echo(
        f"{len(result.kept)} kept, {len(result.deleted) + len(result.incomplete_deleted)} "
        f"{verb}, {result.objects_deleted} blob(s) {verb}"
    )


@backup.command(name="keygen")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The identity file to create (never overwritten).",
)
def backup_keygen(out: Path) -> None:
    """Make an age identity for backups; print the recipient to set as
    CALLVAULT_BACKUP_RECIPIENT. Keep the identity file away from the data and backups."""
    recipient = make_identity(out)
    click.echo(recipient)
    click.echo(
        f"identity written to {out} (mode 0600): keep it offline, away from the data and the "
        "backups; without it the backups sealed to this recipient cannot be restored",
        err=True,
    )


@click.command()
@click.option("--from", "source", metavar="DIR|s3://BUCKET/PREFIX", help="CALLVAULT_BACKUP_TO.")
@click.option("--backup", "set_id", metavar="ID", help="This set (default: the newest complete).")
@click.option(
    "--ledger",
    "ledgers",
    multiple=True,
    metavar="DIR|s3://...",
    help="Another copy of the erasure ledger (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def restore(
    ctx: click.Context,
    source: str | None,
    set_id: str | None,
    ledgers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Restore a backup into an empty data directory and database.

    Every erasure recorded in the erasure ledger after the backup was taken is replayed
    before the vault can be opened. Needs CALLVAULT_BACKUP_IDENTITY or
    CALLVAULT_BACKUP_PASSPHRASE. An interrupted restore is resumed by running it again.
    """
    with _progress(as_json) as step:
        result = restore_backup(
            config_of(ctx), source, set_id=set_id, ledger_from=ledgers, progress=step
        )
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(
        f"restored backup {result.set_id} from {result.source}: {result.calls} call(s), "
        f"{result.objects} blob(s); {result.replayed} erasure(s) from the ledger replayed"
        f"{' (resumed)' if result.resumed else ''}; audit chain "
        f"{'intact' if result.audit_ok else 'BROKEN'}"
    )
    ctx.exit(0 if result.audit_ok else 1)
