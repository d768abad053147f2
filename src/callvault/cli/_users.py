"""`callvault users`: local users of the API and web app, their roles and API tokens.

A password is typed at a hidden prompt (twice) or, for scripts, read from the
environment variable CALLVAULT_NEW_PASSWORD; it is never a command-line argument (those
end up in shell histories and process lists).
"""

from __future__ import annotations

import os

import click
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.config import ROLES
from callvault.services import accounts, open_context
from callvault.services.accounts import SCOPES

__all__ = ["users"]

PASSWORD_ENV = "CALLVAULT_NEW_PASSWORD"


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _new_password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


@click.group(cls=Group)
def users() -> None:
    """Users of the API and web app, their roles, teams and API tokens."""


@users.command(name="add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The user's role.")
@click.option("--team", help="The user's team (a manager sees the calls of their team).")
@click.option("--display-name", help="The name shown in the web app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_add(
    ctx: click.Context,
    username: str,
    role: str,
    team: str | None,
    display_name: str | None,
    as_json: bool,
) -> None:
    """Add USERNAME; the password is prompted for (or read from CALLVAULT_NEW_PASSWORD)."""
    with open_context(config_of(ctx)) as context:
        user = accounts.add_user(
            context, username, _new_password(), role, team=team, display_name=display_name
        )
    if as_json:
        echo_json(user.to_json())
    else:
        click.echo(f"added {user.username} ({user.role}, team {_cell(user.team)})")


@users.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List the users."""
    with open_context(config_of(ctx)) as context:
        found = accounts.list_users(context)
    if as_json:
        echo_json([u.to_json() for u in found])
        return
    table = Table("username", "display name", "role", "team", "created", "disabled", "locked")
    for u in found:
        table.add_row(
            u.username,
            _cell(u.display_name),
            u.role,
            _cell(u.team),
            u.created_at.isoformat(timespec="seconds"),
            _cell(u.disabled_at and u.disabled_at.isoformat(timespec="seconds")),
            _cell(u.locked_at and u.locked_at.isoformat(timespec="seconds")),
        )
    console().print(table)


@users.command(name="role")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The new role.")
@click.option("--team", help="The user's team; without it the user has no team.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_role(
    ctx: click.Context, username: str, role: str, team: str | None, as_json: bool
) -> None:
    """Set the role and team of USERNAME."""
    with open_context(config_of(ctx)) as context:
        user = accounts.set_role(context, username, role, team)
    if as_json:
        echo_json(user.to_json())
    else:
        click.echo(f"{user.username}: {user.role}, team {_cell(user.team)}")


@users.command(name="password")
@click.argument("username")
@click.pass_context
def users_password(ctx: click.Context, username: str) -> None:
    """Set a new password for USERNAME (prompted, or CALLVAULT_NEW_PASSWORD); ends their
    sessions."""
    with open_context(config_of(ctx)) as context:
        accounts.set_password(context, username, _new_password())
    click.echo(f"password of {username.strip().lower()} changed; their sessions ended")


@users.command(name="disable")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_disable(ctx: click.Context, username: str, as_json: bool) -> None:
    """Disable USERNAME: logins, sessions and API tokens are refused from now on."""
    with open_context(config_of(ctx)) as context:
        user = accounts.disable_user(context, username)
    if as_json:
        echo_json(user.to_json())
    else:
        click.echo(f"disabled {user.username}")


@users.command(name="unlock")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_unlock(ctx: click.Context, username: str, as_json: bool) -> None:
    """Unlock USERNAME after too many failed sign-ins locked it, and forget its failures."""
    with open_context(config_of(ctx)) as context:
        before = accounts.get_user(context, username)
        user = accounts.unlock_user(context, username)
    if as_json:
        echo_json(user.to_json())
    elif before.locked:
        click.echo(f"unlocked {user.username}")
    else:
        click.echo(f"{user.username} was not locked; their failed sign-ins are forgotten")


@users.group(name="token", cls=Group)
def token() -> None:
    """API tokens: created for a user, with scopes and an expiry."""


@token.command(name="create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (to tell it apart).")
@click.option(
    "--scope",
    "scopes",
    required=True,
    multiple=True,
    type=click.Choice(SCOPES),
    help="A scope the token grants (repeat for more); the user's role still applies.",
)
@click.option(
    "--days",
    required=True,
    type=click.IntRange(1, 365),
    help="Days until the token expires (at most 365).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_create(
    ctx: click.Context,
    username: str,
    name: str,
    scopes: tuple[str, ...],
    days: int,
    as_json: bool,
) -> None:
    """Create an API token for USERNAME; the secret is printed once, and never again."""
    with open_context(config_of(ctx)) as context:
        record, secret = accounts.create_token(context, username, name, scopes, days)
    if as_json:
        echo_json({**record.to_json(), "secret": secret})
        return
    click.echo(f"token {record.id} for {record.username}, expires {record.expires_at:%Y-%m-%d}")
    click.echo(secret)
    click.echo("keep the secret now: it is not stored and cannot be shown again", err=True)


@token.command(name="list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_list(ctx: click.Context, username: str | None, as_json: bool) -> None:
    """List the API tokens (of USERNAME); secrets are never shown."""
    with open_context(config_of(ctx)) as context:
        found = accounts.list_tokens(context, username)
    if as_json:
        echo_json([t.to_json() for t in found])
        return
    table = Table("id", "user", "name", "scopes", "expires", "last used", "revoked")
    for t in found:
        table.add_row(
            t.id,
            t.username,
            t.name,
            " ".join(sorted(t.scopes)),
            t.expires_at.isoformat(timespec="seconds"),
            _cell(t.last_used_at and t.last_used_at.isoformat(timespec="seconds")),
            _cell(t.revoked_at and t.revoked_at.isoformat(timespec="seconds")),
        )
    console().print(table)


@token.command(name="revoke")
@click.argument("token_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str, as_json: bool) -> None:
    """Revoke the API token TOKEN_ID."""
    with open_context(config_of(ctx)) as context:
        record = accounts.revoke_token(context, token_id)
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(f"revoked token {record.id} of {record.username}")
