"""`callvault hold`, `callvault retention` and `callvault consent`."""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from callvault.capture import parse_timestamp
from callvault.cli._common import Group, announce_erased, config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import (
    ConsentRecord,
    HoldRecord,
    add_consent,
    add_hold,
    list_consents,
    list_holds,
    open_context,
    release_hold,
    run_retention,
    set_retention,
    withdraw_consent,
    withdraw_during_call,
)

__all__ = ["consent", "hold", "retention"]


def _time(value: str | None, option: str) -> datetime | None:
    return parse_timestamp(value, option=option) if value is not None else None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


def _hold_line(hold: HoldRecord) -> str:
    target = f"call {hold.call_id}" if hold.call_id else f"subject {hold.subject}"
    state = "active" if hold.active else f"released {_iso(hold.released_at)}"
    return f"hold {hold.id}  {target}  {state}  ({hold.reason})"


def _consent_line(record: ConsentRecord) -> str:
    state = "active" if record.active else f"withdrawn {_iso(record.withdrawn_at)}"
    scope = "standing" if record.standing else f"call {record.call_id or '(erased)'}"
    return (
        f"consent {record.id}  {record.participant}  {scope}  {record.method}  "
        f"{','.join(record.scopes)}  {state}"
    )


# -- hold ----------------------------------------------------------------------------------


@click.group(cls=Group)
def hold() -> None:
    """Legal holds: a held call cannot be erased, by request or by retention."""


@hold.command(name="add")
@click.argument("call_id", required=False)
@click.option("--subject", help="Hold every call of this number (E.164) or participant name.")
@click.option("--reason", required=True, help="Why (the matter or case; audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hold_add(
    ctx: click.Context, call_id: str | None, subject: str | None, reason: str, as_json: bool
) -> None:
    """Put CALL_ID, or every call of a --subject, on legal hold."""
    if (call_id is None) == (subject is None):
        raise InputError("give either a CALL_ID or --subject, not both or neither")
    with open_context(config_of(ctx)) as svc:
        record = add_hold(svc, call_id, subject, reason=reason)
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(_hold_line(record))


@hold.command(name="remove")
@click.argument("hold_id")
@click.option("--reason", required=True, help="Why the hold ends (audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hold_remove(ctx: click.Context, hold_id: str, reason: str, as_json: bool) -> None:
    """Release a hold (it stays listed with --all)."""
    with open_context(config_of(ctx)) as svc:
        record = release_hold(svc, hold_id, reason=reason)
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(_hold_line(record))


@hold.command(name="list")
@click.option("--all", "all_", is_flag=True, help="Released holds too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hold_list(ctx: click.Context, all_: bool, as_json: bool) -> None:
    """List the active holds, oldest first."""
    with open_context(config_of(ctx)) as svc:
        records = list_holds(svc, active_only=not all_)
    if as_json:
        echo_json({"holds": [r.to_json() for r in records]})
        return
    table = Table("hold", "on", "created", "released", "reason")
    for r in records:
        target = f"call {r.call_id}" if r.call_id else f"subject {r.subject}"
        table.add_row(r.id, target, _iso(r.created_at), _iso(r.released_at), r.reason)
    console().print(table)


# -- retention -----------------------------------------------------------------------------


@click.group(cls=Group)
def retention() -> None:
    """Retention: when calls are erased."""


@retention.command(name="set")
@click.argument("call_id")
@click.option("--class", "retention_class", default="standard", show_default=True)
@click.option("--until", metavar="ISO8601", help="Erase after this time (with time zone).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def retention_set(
    ctx: click.Context, call_id: str, retention_class: str, until: str | None, as_json: bool
) -> None:
    """Set a call's retention class and time; without --until the call never expires."""
    retain_until = _time(until, "--until")
    with open_context(config_of(ctx)) as svc:
        info = set_retention(svc, call_id, retention_class, retain_until)
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(
            f"call {info.call_id}  class {info.retention_class}  "
            f"retain until {_iso(info.retain_until)}"
        )


@retention.command(name="run")
@click.option("--dry-run", is_flag=True, help="Only report what would be erased.")
@click.option("--now", metavar="ISO8601", help="Take this as the current time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def retention_run(ctx: click.Context, dry_run: bool, now: str | None, as_json: bool) -> None:
    """Erase (crypto-shred) every call past its retention time that is not held.

    Calls with no retention time are never erased. Each erasure is certified in the
    audit log (`retention.erase`).
    """
    moment = _time(now, "--now")

    def progress(done: int, total: int) -> None:
        # A line every 5 % of the calls: enough to follow, not a flood.
        if done == total or done % max(1, total // 20) == 0:
            click.echo(f"retention: {done}/{total} expired call(s) handled", err=True)

    with open_context(config_of(ctx)) as svc:
        report = run_retention(svc, now=moment, dry_run=dry_run, hook=progress)
    if not dry_run:
        announce_erased(config_of(ctx), report.erased_call_ids)
    if as_json:
        echo_json(report.to_json())
        return
    verb = "would erase" if dry_run else "erased"
    for e in report.erased:
        click.echo(f"{verb}  call {e.call_id}  ({e.retention_class}, until {_iso(e.retain_until)})")
    for s in report.skipped:
        why = f"hold {', '.join(s.hold_ids)}" if s.hold_ids else s.reason
        click.echo(f"kept   call {s.call_id}  ({why})")
    for r in report.refusals:
        # A spoken refusal's quarantined audio (issue 20), and the call it erased.
        done = "kept (legal hold)" if r.skipped else ("would shred" if dry_run else "shredded")
        erased = "; call erased" if r.erasure is not None else ""
        click.echo(f"{done}  refusal quarantine {r.detection_id} of call {r.call_id}{erased}")
    click.echo(f"{len(report.erased)} call(s) {verb}, {len(report.skipped)} kept")


# -- consent -------------------------------------------------------------------------------


@click.group(cls=Group)
def consent() -> None:
    """Consent records: who agreed to be recorded, how and to what."""


@consent.command(name="add")
@click.option("--participant", required=True, metavar="E164", help="Number, or a subject id.")
@click.option("--call", "call_id", metavar="CALL_ID", help="The call the consent is for.")
@click.option("--method", required=True, help="verbal, dtmf, web, ivr or pre-call-notice.")
@click.option(
    "--scope", "scopes", multiple=True, required=True, help="record, analyse or training (repeat)."
)
@click.option("--at", metavar="ISO8601", help="When it was given (default: now).")
@click.option("--note", help="A note kept with the record (not in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def consent_add(
    ctx: click.Context,
    participant: str,
    call_id: str | None,
    method: str,
    scopes: tuple[str, ...],
    at: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Record a participant's consent, for one --call or standing (without --call: it
    covers their calls from --at on, until withdrawn). The consent that completes a
    quarantined call releases it and queues its transcription."""
    given_at = _time(at, "--at")
    with open_context(config_of(ctx)) as svc:
        added = add_consent(
            svc,
            participant,
            method=method,
            scopes=scopes,
            call_id=call_id,
            given_at=given_at,
            note=note,
        )
    if as_json:
        echo_json(added.to_json())
        return
    click.echo(_consent_line(added.record))
    if added.released:
        click.echo(
            f"call {call_id}: every party has consented; released and queued ({added.job_id})"
        )


@consent.command(name="withdraw")
@click.argument("consent_id", required=False)
@click.option("--at", metavar="ISO8601", help="When it was withdrawn (default: now).")
@click.option("--call", "call_id", metavar="CALL_ID", help="Withdrawal during this call.")
@click.option(
    "--participant", metavar="POS_OR_NUMBER", help="With --call: position (0 first) or number."
)
@click.option("--offset", type=float, metavar="SECONDS", help="With --call: seconds into the call.")
@click.option("--refused", is_flag=True, help="With --call: consent was refused (erase all).")
@click.option("--reason", help="With --call: why (audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def consent_withdraw(
    ctx: click.Context,
    consent_id: str | None,
    at: str | None,
    call_id: str | None,
    participant: str | None,
    offset: float | None,
    refused: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Mark CONSENT_ID withdrawn (the record stays), or record a withdrawal during a
    --call and apply the on_withdrawal setting to its recording.

    With --call, --participant, --offset and --reason: the party's consents for the call
    are marked withdrawn at that moment, then the whole call is erased (discard-call, a
    refusal, an offset of 0, a quarantined call) or only what came after is destroyed
    (keep-before). A legal hold refuses that step; the withdrawal stays recorded.
    """
    if call_id is None:
        extra = [
            name
            for name, given in (
                ("--participant", participant is not None),
                ("--offset", offset is not None),
                ("--refused", refused),
                ("--reason", reason is not None),
            )
            if given
        ]
        if consent_id is None:
            raise InputError("give a CONSENT_ID, or --call with --participant and --offset")
        if extra:
            raise InputError(f"{extra[0]} goes with --call, not with a CONSENT_ID")
        when = _time(at, "--at")
        with open_context(config_of(ctx)) as svc:
            record = withdraw_consent(svc, consent_id, at=when)
        if as_json:
            echo_json(record.to_json())
        else:
            click.echo(_consent_line(record))
        return
    if consent_id is not None or at is not None:
        raise InputError("--call takes --offset, not a CONSENT_ID or --at")
    if participant is None or reason is None or (offset is None and not refused):
        raise InputError("--call needs --participant, --offset (or --refused) and --reason")
    with open_context(config_of(ctx)) as svc:
        outcome = withdraw_during_call(
            svc,
            call_id,
            participant,
            offset if offset is not None else 0.0,
            refused=refused,
            reason=reason,
        )
    if as_json:
        echo_json(outcome.to_json())
        return
    withdrawal = outcome.withdrawal
    what = "refusal" if withdrawal.refused else "withdrawal"
    click.echo(
        f"{what} recorded: participant {withdrawal.position} of call {call_id} at "
        f"{withdrawal.at_seconds:g} s ({len(withdrawal.consent_ids)} consent(s) withdrawn)"
    )
    if outcome.rewrite is not None:
        click.echo(
            f"call {call_id}: recording cut at {withdrawal.at_seconds:g} s, "
            f"{outcome.rewrite.removed_utterances} utterance(s) removed; the rest is erased"
        )
    else:
        click.echo(f"call {call_id}: erased by crypto-shredding")


@consent.command(name="list")
@click.option("--call", "call_id", metavar="CALL_ID", help="Only consents for this call.")
@click.option("--participant", metavar="E164", help="Only this participant's consents.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def consent_list(
    ctx: click.Context, call_id: str | None, participant: str | None, as_json: bool
) -> None:
    """List consent records, oldest first."""
    with open_context(config_of(ctx)) as svc:
        records = list_consents(svc, call_id=call_id, participant=participant)
    if as_json:
        echo_json({"consents": [r.to_json() for r in records]})
        return
    table = Table("consent", "participant", "call", "method", "scopes", "given", "withdrawn")
    for r in records:
        table.add_row(
            r.id,
            r.participant,
            r.call_id or "-",
            r.method,
            ",".join(r.scopes),
            _iso(r.given_at),
            _iso(r.withdrawn_at),
        )
    console().print(table)
