"""The use cases of accounts: managing users and API tokens, signing in and out, and who
a request's credentials belong to. The CLI, the API and the web app call these, never
`callvault.accounts` or the vault directly.

Each takes a `Context` first; changes are audited as `ctx.actor` (the signed-in user, or
the configured operator on the command line). Sign-in and session look-ups act as the
user or the client's address they concern, whoever the context's principal is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from callvault.accounts import SCOPES, Accounts, SessionRecord, TokenRecord, UserRecord
from callvault.services._context import Context

__all__ = [
    # The records the edges render, and the scopes a token may hold.
    "SCOPES",
    "SessionRecord",
    "TokenRecord",
    "UserRecord",
    "add_user",
    "agents_of_team",
    "authenticate",
    "check_csrf",
    "create_session",
    "create_token",
    "disable_user",
    "end_session",
    "get_user",
    "has_users",
    "list_tokens",
    "list_users",
    "resolve_session",
    "resolve_token",
    "revoke_token",
    "set_password",
    "set_role",
    "team_of",
    "unlock_user",
]


def _accounts(ctx: Context) -> Accounts:
    return Accounts(ctx.vault)


# -- users -------------------------------------------------------------------------------


def add_user(
    ctx: Context,
    username: str,
    password: str,
    role: str,
    *,
    team: str | None = None,
    display_name: str | None = None,
) -> UserRecord:
    """Create a user (audited `user.add`)."""
    return _accounts(ctx).add_user(
        username, password, role, team=team, display_name=display_name, actor=ctx.actor
    )


def list_users(ctx: Context) -> list[UserRecord]:
    """Every user, disabled ones too, by username."""
    return _accounts(ctx).list_users()


def has_users(ctx: Context) -> bool:
    """Whether any user exists (disabled ones count)."""
    return bool(_accounts(ctx).list_users())


def get_user(ctx: Context, username: str) -> UserRecord:
    """The user named `username`; NotFound when there is none."""
    return _accounts(ctx).get_user(username)


def set_role(ctx: Context, username: str, role: str, team: str | None = None) -> UserRecord:
    """Set a user's role and team together (audited `user.role`)."""
    return _accounts(ctx).set_role(username, role, team, actor=ctx.actor)


def set_password(ctx: Context, username: str, password: str) -> None:
    """Replace a user's password and end their sessions (audited `user.password`)."""
    _accounts(ctx).set_password(username, password, actor=ctx.actor)


def disable_user(ctx: Context, username: str) -> UserRecord:
    """Disable a user and end their sessions (audited `user.disable`)."""
    return _accounts(ctx).disable_user(username, actor=ctx.actor)


def unlock_user(ctx: Context, username: str) -> UserRecord:
    """Lift an account's lock and forget its failed sign-ins (audited `user.unlock`)."""
    return _accounts(ctx).unlock_user(username, actor=ctx.actor)


def team_of(ctx: Context, username: str) -> str | None:
    """The team of the user named `username` (a call's agent), None when none."""
    return _accounts(ctx).team_of(username)


def agents_of_team(ctx: Context, team: str) -> list[str]:
    """The usernames of a team's members, disabled ones included, sorted."""
    return _accounts(ctx).agents_of_team(team)


# -- API tokens --------------------------------------------------------------------------


def create_token(
    ctx: Context, username: str, name: str, scopes: Iterable[str], expires_in_days: int
) -> tuple[TokenRecord, str]:
    """A new API token of a user and its secret, shown only here (audited `token.create`)."""
    return _accounts(ctx).create_token(username, name, scopes, expires_in_days, actor=ctx.actor)


def list_tokens(ctx: Context, username: str | None = None) -> list[TokenRecord]:
    """The tokens of one user, or of all, newest first."""
    return _accounts(ctx).list_tokens(username)


def revoke_token(ctx: Context, token_id: str) -> TokenRecord:
    """Revoke an API token now (audited `token.revoke`)."""
    return _accounts(ctx).revoke_token(token_id, actor=ctx.actor)


def resolve_token(ctx: Context, secret: str) -> tuple[UserRecord, TokenRecord]:
    """The user and token of a bearer secret; NotAuthorized when it is not valid."""
    return _accounts(ctx).resolve_token(secret)


# -- signing in and browser sessions -----------------------------------------------------


def authenticate(
    ctx: Context, username: str, password: str, *, address: str | None = None
) -> UserRecord:
    """The user whose password this is, throttled per account and client `address`;
    NotAuthorized, AccountLocked, TooManyAttempts or Overloaded otherwise."""
    return _accounts(ctx).authenticate(username, password, address=address)


def create_session(ctx: Context, user: UserRecord) -> tuple[str, str, datetime]:
    """A browser session of a signed-in user: (secret, CSRF token, absolute expiry)."""
    return _accounts(ctx).create_session(user)


def resolve_session(ctx: Context, secret: str) -> tuple[UserRecord, SessionRecord]:
    """The user and session of a session secret; NotAuthorized when it has ended."""
    return _accounts(ctx).resolve_session(secret)


def end_session(ctx: Context, secret: str) -> bool:
    """Log out (audited `auth.logout`); False when there was no such session."""
    return _accounts(ctx).end_session(secret)


def check_csrf(session: SessionRecord, token: str) -> bool:
    """Whether `token` is the session's CSRF token (a pure check: no context needed, the
    session record carries the hash)."""
    return Accounts.check_csrf(session, token)
