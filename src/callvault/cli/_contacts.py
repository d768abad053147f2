"""`callvault contacts` (import, list, a contact's and an account's calls) and
`callvault crm push`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import open_context
from callvault.services.contacts import (
    account_timeline,
    contact_timeline,
    import_contacts_csv,
    list_contacts,
    push_call_to_crm,
)

__all__ = ["contacts", "crm"]

DEFAULT_SECRET_ENV = "CALLVAULT_CRM_SECRET"


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _print_calls(calls: list[dict[str, Any]]) -> None:
    if not calls:
        click.echo("no calls")
        return
    for call in calls:
        click.echo(
            f"{call['id']}  {_cell(call['started_at'])}  {_cell(call['direction'])}  "
            f"{_cell(call['agent'])}  {call['duration_s']:.1f}s"
        )
        if call["restricted"]:
            click.echo(f"  restricted ({call['restricted']}): content withheld")
        elif call["summary"] is None:
            click.echo("  not processed yet")
        else:
            for point in call["summary"]:
                click.echo(f"  - {point}")
            for item in call["action_items"] or []:
                due = f" (due {item['due']})" if item.get("due") else ""
                click.echo(f"  [ ] {item['text']}{due}")


@click.group(cls=Group)
def contacts() -> None:
    """Contacts from a CRM export, and the calls they took part in."""


@contacts.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--region",
    default="US",
    show_default=True,
    metavar="CC",
    help="Country (ISO 3166 alpha-2) of numbers written without +.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contacts_import(ctx: click.Context, file: Path, region: str, as_json: bool) -> None:
    """Import FILE.csv (columns name, phone, email, account, crm_id); all or nothing."""
    with open_context(config_of(ctx)) as context:
        result = import_contacts_csv(context, file, region=region)
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(f"{result.rows} rows: {result.created} created, {result.updated} updated")


@contacts.command(name="list")
@click.option("--account", help="Only the contacts of this account (exact name).")
@click.option("--query", help="Only contacts whose name, phone, e-mail or CRM id contains this.")
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contacts_list(
    ctx: click.Context,
    account: str | None,
    query: str | None,
    purpose: str | None,
    as_json: bool,
) -> None:
    """List contacts."""
    with open_context(config_of(ctx)) as context:
        found = list_contacts(context, account=account, query=query, purpose=purpose)
    if as_json:
        echo_json([c.to_json() for c in found])
        return
    table = Table("id", "name", "phone", "email", "account", "crm id")
    for c in found:
        table.add_row(
            c.id, _cell(c.name), _cell(c.phone), _cell(c.email), _cell(c.account), _cell(c.crm_id)
        )
    console().print(table)


@contacts.command(name="show")
@click.argument("contact_id")
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contacts_show(ctx: click.Context, contact_id: str, purpose: str | None, as_json: bool) -> None:
    """A contact and its calls, newest first, with summaries and action items."""
    with open_context(config_of(ctx)) as context:
        timeline = contact_timeline(context, contact_id, purpose=purpose)
    if as_json:
        echo_json(timeline)
        return
    c = timeline["contact"]
    click.echo(
        f"contact {c['id']}  {_cell(c['name'])}  {_cell(c['phone'])}  {_cell(c['email'])}  "
        f"account {_cell(c['account'])}"
    )
    _print_calls(timeline["calls"])


@contacts.command(name="account")
@click.argument("account")
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contacts_account(ctx: click.Context, account: str, purpose: str | None, as_json: bool) -> None:
    """The contacts of ACCOUNT and all their calls, newest first."""
    with open_context(config_of(ctx)) as context:
        timeline = account_timeline(context, account, purpose=purpose)
    if as_json:
        echo_json(timeline)
        return
    click.echo(f"account {account}: {len(timeline['contacts'])} contact(s)")
    for c in timeline["contacts"]:
        click.echo(f"  contact {c['id']}  {_cell(c['name'])}")
    _print_calls(timeline["calls"])


@click.group(cls=Group)
def crm() -> None:
    """Send processed calls to a CRM."""


@crm.command(name="push")
@click.argument("call_id")
@click.option("--url", required=True, help="The CRM's webhook URL (http or https).")
@click.option(
    "--secret-env",
    default=DEFAULT_SECRET_ENV,
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the signing secret (never given on the command line).",
)
@click.option("--purpose", help="Why the call is sent (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def crm_push(
    ctx: click.Context,
    call_id: str,
    url: str,
    secret_env: str,
    purpose: str | None,
    as_json: bool,
) -> None:
    """POST CALL_ID's summary and action items to a CRM webhook, signed with HMAC-SHA256."""
    secret = os.environ.get(secret_env, "")
    if not secret:
        raise InputError(
            f"the environment variable {secret_env} is not set; put the webhook's signing "
            "secret there (or name another with --secret-env)"
        )
    with open_context(config_of(ctx)) as context:
        result = push_call_to_crm(context, call_id, url=url, secret=secret, purpose=purpose)
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(
            f"call {call_id} sent to {result.host}: HTTP {result.status} "
            f"after {result.attempts} attempt(s)"
        )
