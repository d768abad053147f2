"""`callvault rights`: data subjects' requests (find, export, erase)."""

from __future__ import annotations

from pathlib import Path

import click

from callvault.cli._common import Group, announce_erased, config_of, echo_json
from callvault.config import SUBJECT_ERASURE_MODES
from callvault.errors import InputError
from callvault.services import (
    RESTRICTION_GROUNDS,
    CorrectionRecord,
    RestrictionRecord,
    open_context,
)
from callvault.services.rectify import (
    correction_history,
    lift_restriction,
    list_restrictions,
    rectify_participant,
    rectify_utterance,
    restrict_subject,
)
from callvault.services.rights import erase_subject, export_subject, find_subject

__all__ = ["rights"]

_SUBJECT_HELP = "A phone number (E.164, e.g. +442071234567) or a participant's name."


@click.group(cls=Group)
def rights() -> None:
    """Data subjects' requests: find, export, erase, restrict or rectify."""


@rights.command(name="find")
@click.option("--subject", required=True, help=_SUBJECT_HELP)
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_find(ctx: click.Context, subject: str, purpose: str | None, as_json: bool) -> None:
    """List the calls in which the subject's number or name (any case) is a participant."""
    with open_context(config_of(ctx)) as svc:
        found = find_subject(svc, subject, purpose=purpose)
    if as_json:
        echo_json(found.to_json())
        return
    for call in found.calls:
        started = call.started_at.isoformat() if call.started_at else "-"
        click.echo(f"{call.call_id}  {started}  {call.role}  {call.other_participants} other(s)")
    click.echo(f"{len(found.calls)} call(s)")


@rights.command(name="export")
@click.option("--subject", required=True, help=_SUBJECT_HELP)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Zip file to write.")
@click.option("--purpose", help="Why (the request's reference; audit log).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_export(
    ctx: click.Context,
    subject: str,
    out: Path,
    purpose: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write a zip of the subject's calls (record, transcript, original audio), their
    consent records and the audit entries about them; README.txt explains each file."""
    with open_context(config_of(ctx)) as svc:
        result = export_subject(svc, subject, out, purpose=purpose, overwrite=force)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(
        f"wrote {len(result.call_ids)} call(s), {len(result.files)} file(s), "
        f"{result.size_bytes} bytes to {out}"
    )


@rights.command(name="erase")
@click.option("--subject", required=True, help=_SUBJECT_HELP)
@click.option("--reason", required=True, help="Why (the request's reference; audit log).")
@click.option(
    "--scope",
    type=click.Choice(SUBJECT_ERASURE_MODES),
    help="call: erase each call whole; leg: only the subject's own channel where others "
    "took part (default: the subject_erasure setting).",
)
@click.option("--yes", is_flag=True, help="Confirm: this cannot be undone.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_erase(
    ctx: click.Context, subject: str, reason: str, scope: str | None, yes: bool, as_json: bool
) -> None:
    """Erase every call of the subject by crypto-shredding: whole, or with --scope leg
    only their channel, utterances, number and name where other people took part and the
    subject has a channel of their own (their other calls are erased whole).

    Refused, with nothing erased, when any of the calls is under legal hold or a
    retention duty (a mifid* class) still runs; the error names each call and rule.
    """
    if not yes:
        raise InputError("rights erase cannot be undone; pass --yes to confirm")
    with open_context(config_of(ctx)) as svc:
        result = erase_subject(svc, subject, reason=reason, scope=scope)
    announce_erased(config_of(ctx), list(result.erased))
    if as_json:
        echo_json(result.to_json())
        return
    for call_id in result.erased:
        click.echo(f"erased call {call_id}")
    for call_id in result.partial:
        click.echo(f"erased the subject's leg of call {call_id}")
    click.echo(f"{len(result.erased)} call(s) erased")
    if result.scope == "leg":
        click.echo(f"{len(result.partial)} call(s) partially erased")


# -- restriction of processing (GDPR art. 18) ----------------------------------------------


def _echo_restriction(record: RestrictionRecord) -> None:
    state = "active" if record.active else f"lifted {record.lifted_at:%Y-%m-%d %H:%M}"
    click.echo(
        f"{record.id}  {state}  {len(record.calls)} call(s)  {record.subject}  ({record.reason})"
    )


@rights.command(name="restrict")
@click.option("--subject", required=True, help=_SUBJECT_HELP)
@click.option("--reason", required=True, help="Why (the request's reference; audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_restrict(ctx: click.Context, subject: str, reason: str, as_json: bool) -> None:
    """Restrict processing of every call of the subject, now and to come, until lifted.

    Their calls are kept but not processed, not found by search, not erased, and not
    read unless --purpose names a ground GDPR art. 18(2) allows as its first word:
    legal-claim, subject-consent, protect-rights or public-interest.
    """
    with open_context(config_of(ctx)) as svc:
        record = restrict_subject(svc, subject, reason=reason)
    if as_json:
        echo_json(record.to_json())
        return
    click.echo(f"restriction {record.id} covers {len(record.calls)} call(s)")


@rights.command(name="lift")
@click.argument("restriction_id")
@click.option("--reason", required=True, help="Why (audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_lift(ctx: click.Context, restriction_id: str, reason: str, as_json: bool) -> None:
    """Lift a restriction: the subject's calls are processed, searched and read again."""
    with open_context(config_of(ctx)) as svc:
        record = lift_restriction(svc, restriction_id, reason=reason)
    if as_json:
        echo_json(record.to_json())
        return
    click.echo(f"restriction {record.id} lifted")


@rights.command(name="restrictions")
@click.option("--all", "show_all", is_flag=True, help="Lifted restrictions too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_restrictions(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List the active restrictions (with --all, the lifted ones too), oldest first."""
    with open_context(config_of(ctx)) as svc:
        records = list_restrictions(svc, active_only=not show_all)
    if as_json:
        echo_json({"restrictions": [r.to_json() for r in records]})
        return
    for record in records:
        _echo_restriction(record)
    click.echo(f"{len(records)} restriction(s)")


# -- rectification (GDPR art. 16) ----------------------------------------------------------


def _echo_correction(record: CorrectionRecord) -> None:
    click.echo(
        f"{record.created_at:%Y-%m-%d %H:%M:%S}  {record.target} {record.key}  "
        f"by {record.actor}  ({record.reason})"
    )
    click.echo(f"    old: {record.old if record.old is not None else '-'}")
    click.echo(f"    new: {record.new}")


@rights.command(name="rectify")
@click.argument("call_id")
@click.option("--utterance", type=int, help="Index of the utterance (0-based, as show lists).")
@click.option("--text", help="The utterance's corrected text.")
@click.option("--participant", type=int, help="Position of the participant (0-based).")
@click.option("--name", help="The participant's corrected name.")
@click.option("--phone", help="The participant's corrected number (E.164).")
@click.option("--reason", required=True, help="Why (the request's reference; audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_rectify(
    ctx: click.Context,
    call_id: str,
    utterance: int | None,
    text: str | None,
    participant: int | None,
    name: str | None,
    phone: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Correct an utterance's text (--utterance N --text TEXT) or a participant's name or
    number (--participant POS --name NAME | --phone E164), keeping the history: old and
    new value, who and why, encrypted with the call (`rights history` shows it)."""
    if (utterance is None) == (participant is None):
        raise InputError("give exactly one of --utterance and --participant")
    with open_context(config_of(ctx)) as svc:
        if utterance is not None:
            if text is None or name is not None or phone is not None:
                raise InputError("--utterance takes --text (and not --name or --phone)")
            record = rectify_utterance(svc, call_id, utterance, text, reason=reason)
        else:
            assert participant is not None
            if text is not None:
                raise InputError("--participant takes --name or --phone, not --text")
            record = rectify_participant(
                svc, call_id, participant, name=name, phone=phone, reason=reason
            )
    if as_json:
        echo_json(record.to_json())
        return
    click.echo(f"corrected {record.target} {record.key} of call {call_id} ({record.id})")


@rights.command(name="history")
@click.argument("call_id")
@click.option(
    "--purpose",
    help="Why you are looking (audit log); for a restricted call, one of "
    f"{', '.join(RESTRICTION_GROUNDS)} first, e.g. 'legal-claim: case 42'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_history(ctx: click.Context, call_id: str, purpose: str | None, as_json: bool) -> None:
    """Show a call's rectifications, oldest first: old and new value, who, when and why."""
    with open_context(config_of(ctx)) as svc:
        records = correction_history(svc, call_id, purpose=purpose)
    if as_json:
        echo_json({"call_id": call_id, "corrections": [r.to_json() for r in records]})
        return
    for record in records:
        _echo_correction(record)
    click.echo(f"{len(records)} correction(s)")
