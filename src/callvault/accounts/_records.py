"""What the accounts hand out: users, API tokens and sessions as frozen records, the
rules a username, a password, a role, a name and a scope follow, and the clock and
password hasher every account operation shares (tests replace `_now` and `_hasher`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.accounts._models import NAME_MAX, TEAM_MAX, SessionRow, TokenRow, UserRow
from callvault.config import ROLES
from callvault.errors import InputError, NotFound

__all__ = [
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD_LENGTH",
    "SCOPES",
    "SESSION_ABSOLUTE",
    "SESSION_IDLE",
    "TOKEN_PREFIX",
    "SessionRecord",
    "TokenRecord",
    "UserRecord",
    "normalise_username",
]

# What an API token may be used for; `services.access` maps every action to one of them.
SCOPES = (
    "calls:read",
    "calls:write",
    "audio:read",
    "search",
    "compliance",
    "admin",
    "outcomes:write",
)
TOKEN_PREFIX = "cvt_"
MAX_TOKEN_DAYS = 365
MIN_PASSWORD_LENGTH = 12
# argon2 hashes whatever it is given; a bound keeps a request from costing minutes.
MAX_PASSWORD_LENGTH = 1024
# A browser session ends after 8 hours without a request, and 24 hours after login.
SESSION_IDLE = timedelta(hours=8)
SESSION_ABSOLUTE = timedelta(hours=24)
# last_used_at / last_seen_at are written at most this often: a request must not cost a
# write (and on SQLite the write lock) each time.
TOUCH_INTERVAL = timedelta(minutes=1)

_USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
_AUTH_FAILED = "authentication failed: wrong username or password, or the account is disabled"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserRecord:
    id: str
    username: str
    display_name: str | None
    role: str
    team: str | None
    created_at: datetime
    disabled_at: datetime | None
    locked_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    @classmethod
    def of(cls, row: UserRow) -> UserRecord:
        return cls(
            row.id,
            row.username,
            row.display_name,
            row.role,
            row.team,
            row.created_at,
            row.disabled_at,
            row.locked_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "team": self.team,
            "created_at": self.created_at.isoformat(),
            "disabled_at": _iso(self.disabled_at),
            "locked_at": _iso(self.locked_at),
        }


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user_id: str
    username: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: TokenRow, username: str) -> TokenRecord:
        return cls(
            row.id,
            row.user_id,
            username,
            row.name,
            frozenset(row.scopes.split()),
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True)
class SessionRecord:
    """A live session. `id` and `csrf_hash` are hashes: kept for `end_session` and
    `check_csrf`, left out of `repr` and `to_json`."""

    user_id: str
    username: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    id: str = field(repr=False)
    csrf_hash: str = field(repr=False)

    @classmethod
    def of(cls, row: SessionRow, username: str) -> SessionRecord:
        return cls(
            row.user_id,
            username,
            row.created_at,
            row.expires_at,
            row.last_seen_at,
            id=row.id,
            csrf_hash=row.csrf_hash,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@cache
def _dummy_hash() -> str:
    # Verifying an unknown user's password against this costs what a real check costs, so
    # the time of an answer does not tell whether a username exists.
    return _hasher.hash(secrets.token_urlsafe(16))


def normalise_username(value: str) -> str:
    """`value` stripped and lower-cased; InputError unless 3-64 of a-z 0-9 . _ -."""
    username = value.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise InputError(
            "a username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-' (lower case)"
        )
    return username


def _check_password(password: str) -> None:
    # The message gives the rule, never the password or its length.
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError(f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters")


def _check_role(role: str, team: str | None) -> tuple[str, str | None]:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if team is not None:
        team = team.strip()
        if not team:
            team = None
        elif len(team) > TEAM_MAX:
            raise InputError(f"a team name is at most {TEAM_MAX} characters")
    if role == "manager" and team is None:
        # A manager sees the calls of their team; without one they would see nothing.
        raise InputError("a manager needs a team (--team)")
    return role, team


def _check_name(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > NAME_MAX:
        raise InputError(f"{what} is longer than {NAME_MAX} characters")
    return value


def _check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(scopes)
    if not chosen:
        raise InputError(f"a token needs at least one scope: {', '.join(SCOPES)}")
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise InputError(f"unknown scope {unknown[0]!r}; use one of {', '.join(SCOPES)}")
    return chosen


def no_such_user(username: str) -> NotFound:
    return NotFound(f"user {username} does not exist; `callvault users list` shows the users")


def user_row(session: Session, username: str) -> UserRow:
    """The row of the user named `username`; NotFound when there is none."""
    row = session.scalars(
        select(UserRow).where(UserRow.username == username.strip().lower())
    ).first()
    if row is None:
        raise no_such_user(username)
    return row
