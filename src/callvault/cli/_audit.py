"""`callvault audit`: the tamper-evident audit log, its check and its anchors."""

from __future__ import annotations

import click
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.services import (
    AnchorReport,
    anchor_audit,
    audit_entries,
    open_context,
    verify_anchors,
    verify_audit,
)

__all__ = ["audit"]


@click.group(cls=Group)
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command(name="list")
@click.option("--object", "object_id", help="Only entries about this object id.")
@click.option("--action", help="Only entries with this action, e.g. call.ingest.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_list(
    ctx: click.Context, object_id: str | None, action: str | None, limit: int | None, as_json: bool
) -> None:
    """Show audit entries, oldest first."""
    with open_context(config_of(ctx)) as svc:
        entries = audit_entries(svc, object_id=object_id, action=action, limit=limit)
    if as_json:
        echo_json({"entries": [e.to_dict() for e in entries]})
        return
    table = Table("seq", "at", "actor", "action", "object", "purpose")
    for e in entries:
        table.add_row(str(e.seq), e.at, e.actor, e.action, e.object_id or "", e.purpose or "")
    console().print(table)


@audit.command(name="verify")
@click.option(
    "--anchors",
    "source",
    metavar="DIR|s3://...",
    help="Also prove the chain still extends every checkpoint anchored there.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_verify(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Check the hash chain; exit 1 and say where when it was tampered with."""
    if source is not None:
        with open_context(config_of(ctx)) as svc:
            anchored = verify_anchors(svc, source)
        _show_anchors(anchored, as_json)
        ctx.exit(0 if anchored.ok else 1)
    with open_context(config_of(ctx)) as svc:
        report = verify_audit(svc)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "faults": [
                    {"seq": f.seq, "kind": f.kind, "message": f.message} for f in report.faults
                ],
            }
        )
    elif report.ok:
        click.echo(f"audit chain intact: {report.entries} entries")
    else:
        for fault in report.faults:
            click.echo(f"FAULT  {fault.message}")
        click.echo(f"audit chain broken: {len(report.faults)} fault(s) in {report.entries} entries")
    ctx.exit(0 if report.ok else 1)


def _show_anchors(report: AnchorReport, as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "source": report.source,
                "checkpoints": [
                    {
                        "name": c.name,
                        "seq": c.seq,
                        "at": c.at,
                        "ok": c.ok,
                        "timestamped_at": c.timestamped_at,
                        "faults": list(c.messages),
                    }
                    for c in report.checkpoints
                ],
                "faults": list(report.faults),
            }
        )
        return
    for fault in report.faults:
        click.echo(f"FAULT  {fault}")
    count = len(report.checkpoints)
    if report.ok:
        click.echo(f"audit chain intact and extends all {count} anchored checkpoint(s)")
    else:
        click.echo(f"audit anchors broken: {len(report.faults)} fault(s), {count} checkpoint(s)")


@audit.command(name="anchor")
@click.option("--to", metavar="DIR|s3://...", help="Where to anchor (default: audit_anchor_to).")
@click.option(
    "--tsa", metavar="URL", help="RFC 3161 timestamp authority (default: audit_anchor_tsa)."
)
@click.option("--force", is_flag=True, help="Anchor even when the head has not moved.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_anchor(
    ctx: click.Context, to: str | None, tsa: str | None, force: bool, as_json: bool
) -> None:
    """Write a signed checkpoint of the audit chain where the vault cannot rewrite it."""
    with open_context(config_of(ctx)) as svc:
        result = anchor_audit(svc, to=to, tsa=tsa, force=force)
    if as_json:
        echo_json(
            {
                "written": result.written,
                "seq": result.seq,
                "hash": result.hash,
                "location": result.location,
                "name": result.name,
                "timestamped": result.timestamped,
            }
        )
    else:
        click.echo(result.message)
