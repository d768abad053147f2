"""`callvault rights`: data subjects' requests (find, export, erase)."""

from __future__ import annotations

from pathlib import Path

import click

from callvault.cli._common import Group, config_of, echo_json
from callvault.errors import InputError
from callvault.services.rights import erase_subject, export_subject, find_subject
from callvault.vault import Vault

__all__ = ["rights"]

_SUBJECT_HELP = "A phone number (E.164, e.g. +442071234567) or a participant's name."


@click.group(cls=Group)
def rights() -> None:
    """Data subjects' requests: find, export or erase every call of one person."""


@rights.command(name="find")
@click.option("--subject", required=True, help=_SUBJECT_HELP)
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_find(ctx: click.Context, subject: str, purpose: str | None, as_json: bool) -> None:
    """List the calls in which the subject's number or name (any case) is a participant."""
    with Vault.open(config_of(ctx)) as vault:
        found = find_subject(vault, subject, purpose=purpose)
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
    with Vault.open(config_of(ctx)) as vault:
        result = export_subject(vault, subject, out, purpose=purpose, overwrite=force)
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
@click.option("--yes", is_flag=True, help="Confirm: this cannot be undone.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rights_erase(ctx: click.Context, subject: str, reason: str, yes: bool, as_json: bool) -> None:
    """Erase every call of the subject, whole, by crypto-shredding.

    Refused, with nothing erased, when any of the calls is under legal hold or a
    retention duty (a mifid* class) still runs; the error names each call and rule.
    Whole calls only: erasing just the subject's leg of a call is not supported.
    """
    if not yes:
        raise InputError("rights erase cannot be undone; pass --yes to confirm")
    with Vault.open(config_of(ctx)) as vault:
        result = erase_subject(vault, subject, reason=reason)
    if as_json:
        echo_json(result.to_json())
        return
    for call_id in result.erased:
        click.echo(f"erased call {call_id}")
    click.echo(f"{len(result.erased)} call(s) erased")
