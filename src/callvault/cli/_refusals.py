"""`callvault refusals`: spoken refusals to be recorded that processing found (issue 20).

Compliance only (CALLVAULT_ROLE=compliance): the words are personal data, and reversing
a detection restores a recording. Each command calls one use case of
`services.refusals`.
"""

from __future__ import annotations

import click
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.services import (
    RefusalView,
    apply_refusal,
    list_refusals,
    open_context,
    reverse_refusal,
    show_refusal,
)

__all__ = ["refusals"]

STATUSES = ("pending", "applied", "flagged", "reversed", "expired")


def _line(view: RefusalView) -> str:
    d = view.detection
    done = f" ({d.outcome})" if d.outcome else ""
    kept = (
        f"  quarantined until {d.quarantine_until.isoformat()}"
        if d.quarantined and (d.quarantine_until)
        else ""
    )
    return (
        f"refusal {d.id}  call {d.call_id}  {d.status}{done}  at {d.start:.2f} s  "
        f"confidence {d.confidence:.2f}{kept}"
    )


@click.group(cls=Group)
def refusals() -> None:
    """Spoken refusals to be recorded found by processing: review, apply, reverse."""


@refusals.command(name="list")
@click.option("--status", type=click.Choice(STATUSES), help="Only detections in this state.")
@click.option("--call", "call_id", help="Only the detections of this call.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def refusals_list(
    ctx: click.Context, status: str | None, call_id: str | None, as_json: bool
) -> None:
    """List detections, newest first, with their words (the read is audited)."""
    with open_context(config_of(ctx)) as svc:
        views = list_refusals(svc, status=status, call_id=call_id)
    if as_json:
        echo_json({"refusals": [v.to_json() for v in views]})
        return
    table = Table("refusal", "call", "status", "outcome", "at (s)", "confidence", "words")
    for v in views:
        d = v.detection
        table.add_row(
            d.id,
            d.call_id,
            d.status,
            d.outcome or "-",
            f"{d.start:.2f}",
            f"{d.confidence:.2f}",
            v.words if v.words is not None else "(destroyed)",
        )
    console().print(table)


@refusals.command(name="show")
@click.argument("detection_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def refusals_show(ctx: click.Context, detection_id: str, as_json: bool) -> None:
    """Show one detection: decision, words, confidence, quarantine, review."""
    with open_context(config_of(ctx)) as svc:
        view = show_refusal(svc, detection_id)
    if as_json:
        echo_json(view.to_json())
        return
    d = view.detection
    click.echo(_line(view))
    click.echo(f"  words: {view.words if view.words is not None else '(destroyed)'}")
    click.echo(f"  phrase: {d.phrase}  language: {d.language or '-'}  channel: {d.channel}")
    click.echo(f"  decision: {d.decision}  detected: {d.detected_at.isoformat()}")
    if d.reviewed_by:
        click.echo(f"  reviewed by {d.reviewed_by}: {d.review_reason or ''}")


@refusals.command(name="reverse")
@click.argument("detection_id")
@click.option("--reason", required=True, help="Why the detection was false (audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def refusals_reverse(ctx: click.Context, detection_id: str, reason: str, as_json: bool) -> None:
    """Reverse a false detection: the recording is restored from its quarantine, the
    consent is active again and the call is queued for processing again."""
    with open_context(config_of(ctx)) as svc:
        view = reverse_refusal(svc, detection_id, reason=reason)
    if as_json:
        echo_json(view.to_json())
        return
    click.echo(_line(view))
    if view.job_id:
        click.echo(f"recording restored; processing queued as job {view.job_id}")


@refusals.command(name="apply")
@click.argument("detection_id")
@click.option("--reason", required=True, help="Why it is applied (audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def refusals_apply(ctx: click.Context, detection_id: str, reason: str, as_json: bool) -> None:
    """Honour a flagged detection: cut (or erase) the recording at the refusal."""
    with open_context(config_of(ctx)) as svc:
        view = apply_refusal(svc, detection_id, reason=reason)
    if as_json:
        echo_json(view.to_json())
    else:
        click.echo(_line(view))
