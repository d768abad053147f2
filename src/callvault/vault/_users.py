"""Local users, their roles and teams, API tokens and browser sessions.

A user has a lower-case username, a role (`config.ROLES`), an optional team and an
argon2id password hash (argon2-cffi's `PasswordHasher`, RFC 9106 parameters). Secrets
are never stored: an API token ("cvt_" + 32 random bytes) and a session secret are kept
as their SHA-256, so a copy of the database lets nobody in; a secret is shown once, when
it is made. What a role may do is decided in `callvault.services.access`, not here.

Every change is audited (`user.add`, `user.password`, `user.role`, `user.disable`,
`user.lock`, `user.unlock`, `token.create`, `token.revoke`, `auth.login`, `auth.session`,
`auth.logout`, `auth.failed`) with ids and usernames only: a username identifies a member
of staff and may be logged; a password, a hash or a secret never is, and neither is a
submitted username that names no user (it may be a password typed in the wrong field).

Password sign-ins (`authenticate`) are in `_login`: throttled per account and per client
address, and too many failures lock an account until an administrator unlocks it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import ForeignKey, String, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callvault.config import ROLES
from callvault.errors import InputError, NotAuthorized, NotFound
from callvault.vault._core import VaultCore
from callvault.vault._models import Base, UTCDateTime

__all__ = [
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD_LENGTH",
    "SCOPES",
    "SESSION_ABSOLUTE",
    "SESSION_IDLE",
    "TOKEN_PREFIX",
    "SessionRecord",
    "SessionRow",
    "TokenRecord",
    "TokenRow",
    "UserOps",
    "UserRecord",
    "UserRow",
    "normalise_username",
]

# What an API token may be used for; `services.access` maps every action to one of them.
SCOPES = ("calls:read", "calls:write", "audio:read", "search", "compliance", "admin")
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
_TEAM_MAX = 64
_NAME_MAX = 128
_AUTH_FAILED = "authentication failed: wrong username or password, or the account is disabled"

_hasher = PasswordHasher()


class UserRow(Base):
    """A local user (migration 0012)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(_NAME_MAX))
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(_TEAM_MAX), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when too many failed sign-ins lock the account (migration 0015).
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TokenRow(Base):
    """An API token: only the SHA-256 of its secret is kept (migration 0012)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(_NAME_MAX))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionRow(Base):
    """A browser session; `id` is the SHA-256 of its secret, `csrf_hash` that of its CSRF
    token (migration 0012). `expires_at` is the absolute end; idleness is measured from
    `last_seen_at`."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


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

    @property
    def idle_expires_at(self) -> datetime:
        return min(self.last_seen_at + SESSION_IDLE, self.expires_at)

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
        elif len(team) > _TEAM_MAX:
            raise InputError(f"a team name is at most {_TEAM_MAX} characters")
    if role == "manager" and team is None:
        # A manager sees the calls of their team; without one they would see nothing.
        raise InputError("a manager needs a team (--team)")
    return role, team


def _check_name(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > _NAME_MAX:
        raise InputError(f"{what} is longer than {_NAME_MAX} characters")
    return value


def _check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(scopes)
    if not chosen:
        raise InputError(f"a token needs at least one scope: {', '.join(SCOPES)}")
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise InputError(f"unknown scope {unknown[0]!r}; use one of {', '.join(SCOPES)}")
    return chosen


def _end_sessions(session: Session, user_id: str) -> int:
    """Delete every session of a user; how many there were."""
    ids = list(session.scalars(select(SessionRow.id).where(SessionRow.user_id == user_id)))
    if ids:
        session.execute(delete(SessionRow).where(SessionRow.id.in_(ids)))
    return len(ids)


def _no_such_user(username: str) -> NotFound:
    return NotFound(f"user {username} does not exist; `callvault users list` shows the users")


class UserOps(VaultCore):
    """Users, API tokens and sessions: mixed into `Vault`."""

    # -- users -------------------------------------------------------------------------

    def _user_row(self, session: Session, username: str) -> UserRow:
        row = session.scalars(
            select(UserRow).where(UserRow.username == username.strip().lower())
        ).first()
        if row is None:
            raise _no_such_user(username)
        return row

    def _active_admins(self, session: Session) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(UserRow)
                .where(UserRow.role == "admin", UserRow.disabled_at.is_(None))
            )
            or 0
        )

    def add_user(
        self,
        username: str,
        password: str,
        role: str,
        *,
        team: str | None = None,
        display_name: str | None = None,
        actor: str | None = None,
    ) -> UserRecord:
        """Create a user; InputError for a taken or malformed username, an unknown role,
        a manager without a team or a password under 12 characters. Audited `user.add`."""
        name = normalise_username(username)
        role, team = _check_role(role, team)
        display = _check_name(display_name, "the display name")
        _check_password(password)
        password_hash = _hasher.hash(password)
        with self._write() as session:
            if session.scalars(select(UserRow.id).where(UserRow.username == name)).first():
                raise InputError(f"user {name} exists already; choose another username")
            row = UserRow(
                id=uuid.uuid4().hex,
                username=name,
                display_name=display,
                role=role,
                team=team,
                password_hash=password_hash,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                "user.add",
                "user",
                row.id,
                actor=actor,
                details={"username": name, "role": role, "team": team},
            )
            return UserRecord.of(row)

    def set_password(self, username: str, password: str, *, actor: str | None = None) -> None:
        """Replace a user's password and end their sessions; audited `user.password`."""
        _check_password(password)
        password_hash = _hasher.hash(password)
        with self._write() as session:
            row = self._user_row(session, username)
            row.password_hash = password_hash
            ended = _end_sessions(session, row.id)
            self._record(
                session,
                "user.password",
                "user",
                row.id,
                actor=actor,
                details={"username": row.username, "sessions_ended": ended},
            )

    def set_role(
        self, username: str, role: str, team: str | None = None, *, actor: str | None = None
    ) -> UserRecord:
        """Set a user's role and team together (`team` None: no team). The last active
        admin keeps the admin role. Audited `user.role` with the old and new values."""
        role, team = _check_role(role, team)
        with self._write() as session:
            row = self._user_row(session, username)
            if (
                row.role == "admin"
                and role != "admin"
                and row.disabled_at is None
                and self._active_admins(session) <= 1
            ):
                raise InputError(
                    f"{row.username} is the last active admin; make another user admin first"
                )
            old = {"role": row.role, "team": row.team}
            row.role, row.team = role, team
            self._record(
                session,
                "user.role",
                "user",
                row.id,
                actor=actor,
                details={"username": row.username, "old": old, "new": {"role": role, "team": team}},
            )
            return UserRecord.of(row)

    def disable_user(self, username: str, *, actor: str | None = None) -> UserRecord:
        """Disable a user: logins, sessions and tokens are refused from now on (sessions
        are ended). The last active admin cannot be disabled. Audited `user.disable`."""
        with self._write() as session:
            row = self._user_row(session, username)
            if row.disabled_at is not None:
                return UserRecord.of(row)
            if row.role == "admin" and self._active_admins(session) <= 1:
                raise InputError(
                    f"{row.username} is the last active admin; make another user admin first"
                )
            row.disabled_at = _now()
            ended = _end_sessions(session, row.id)
            self._record(
                session,
                "user.disable",
                "user",
                row.id,
                actor=actor,
                details={"username": row.username, "sessions_ended": ended},
            )
            return UserRecord.of(row)

    def list_users(self, *, include_disabled: bool = True) -> list[UserRecord]:
        """Every user, by username."""
        with self._read() as session:
            query = select(UserRow).order_by(UserRow.username)
            if not include_disabled:
                query = query.where(UserRow.disabled_at.is_(None))
            return [UserRecord.of(row) for row in session.scalars(query)]

    def get_user(self, username: str) -> UserRecord:
        with self._read() as session:
            return UserRecord.of(self._user_row(session, username))

    def team_of(self, username: str) -> str | None:
        """The team of the user named `username` (a call's agent), None when there is no
        such user or they have no team."""
        with self._read() as session:
            return session.scalars(
                select(UserRow.team).where(UserRow.username == username.strip().lower())
            ).first()

    def agents_of_team(self, team: str) -> list[str]:
        """The usernames of the team's members, disabled ones included (their calls stay
        the team's), sorted."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(UserRow.username).where(UserRow.team == team).order_by(UserRow.username)
                )
            )

    # -- passwords ---------------------------------------------------------------------

    # -- API tokens --------------------------------------------------------------------

    def create_token(
        self,
        username: str,
        name: str,
        scopes: Iterable[str],
        expires_in_days: int,
        *,
        actor: str | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new API token of an active user and its secret, which is returned only here.
        `expires_in_days` is 1 to 365. Audited `token.create` (id, name, scopes)."""
        label = _check_name(name, "the token name")
        if label is None:
            raise InputError("a token needs a name (--name), to tell it from the others")
        chosen = _check_scopes(scopes)
        if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise InputError(f"a token lasts 1 to {MAX_TOKEN_DAYS} days (--days)")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        with self._write() as session:
            user = self._user_row(session, username)
            if user.disabled_at is not None:
                raise InputError(f"user {user.username} is disabled; a token would be refused")
            row = TokenRow(
                id=uuid.uuid4().hex,
                user_id=user.id,
                name=label,
                token_hash=_sha256(secret),
                scopes=" ".join(sorted(chosen)),
                created_at=now,
                expires_at=now + timedelta(days=expires_in_days),
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                "token.create",
                "token",
                row.id,
                actor=actor,
                details={
                    "username": user.username,
                    "name": label,
                    "scopes": sorted(chosen),
                    "expires_at": row.expires_at.isoformat(),
                },
            )
            return TokenRecord.of(row, user.username), secret

    def resolve_token(self, secret: str) -> tuple[UserRecord, TokenRecord]:
        """The user and token a secret belongs to; NotAuthorized when it is unknown,
        revoked or expired or its user is disabled (the refusal of a known token is
        audited `auth.failed`). Marks the token used, at most once a minute."""
        refused = NotAuthorized("the API token is unknown, expired or revoked")
        if not secret.startswith(TOKEN_PREFIX):
            raise refused
        digest = _sha256(secret)
        now = _now()
        with self._read() as session:
            found = session.execute(
                select(TokenRow, UserRow)
                .join(UserRow, UserRow.id == TokenRow.user_id)
                .where(TokenRow.token_hash == digest)
            ).first()
        if found is None:
            raise refused
        token, user = found
        reason = None
        if token.revoked_at is not None:
            reason = "token-revoked"
        elif token.expires_at <= now:
            reason = "token-expired"
        elif user.disabled_at is not None:
            reason = "disabled"
        if reason is not None:
            with self._write() as session:
                self._record(
                    session,
                    "auth.failed",
                    "token",
                    token.id,
                    actor=f"user:{user.username}",
                    details={"username": user.username, "reason": reason, "method": "token"},
                )
            raise refused
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
            with self._write() as session:
                row = session.get(TokenRow, token.id)
                if row is not None:
                    row.last_used_at = now
                    token = row
        return UserRecord.of(user), TokenRecord.of(token, user.username)

    def list_tokens(self, username: str | None = None) -> list[TokenRecord]:
        """The tokens of one user, or of all, newest first (revoked and expired ones too)."""
        with self._read() as session:
            query = select(TokenRow, UserRow.username).join(UserRow, UserRow.id == TokenRow.user_id)
            if username is not None:
                query = query.where(UserRow.id == self._user_row(session, username).id)
            query = query.order_by(TokenRow.created_at.desc(), TokenRow.id)
            return [TokenRecord.of(row, name) for row, name in session.execute(query)]

    def revoke_token(self, token_id: str, *, actor: str | None = None) -> TokenRecord:
        """Revoke a token now; revoking it again changes nothing. Audited `token.revoke`."""
        with self._write() as session:
            found = session.execute(
                select(TokenRow, UserRow.username)
                .join(UserRow, UserRow.id == TokenRow.user_id)
                .where(TokenRow.id == token_id)
            ).first()
            if found is None:
                raise NotFound(
                    f"token {token_id} does not exist; `callvault users token list` shows them"
                )
            row, username = found
            if row.revoked_at is None:
                row.revoked_at = _now()
                self._record(
                    session,
                    "token.revoke",
                    "token",
                    row.id,
                    actor=actor,
                    details={"username": username, "name": row.name},
                )
            return TokenRecord.of(row, username)

    # -- browser sessions --------------------------------------------------------------

    def create_session(self, user: UserRecord) -> tuple[str, str, datetime]:
        """Start a session for an authenticated user: (session secret, CSRF token,
        absolute expiry). Only hashes of both are stored. Expired sessions of every user
        are swept out here. Audited `auth.session`."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now()
        with self._write() as session:
            row = session.get(UserRow, user.id)
            if row is None or row.disabled_at is not None:
                raise NotAuthorized(_AUTH_FAILED)
            session.execute(
                delete(SessionRow).where(
                    or_(SessionRow.expires_at <= now, SessionRow.last_seen_at <= now - SESSION_IDLE)
                )
            )
            expires_at = now + SESSION_ABSOLUTE
            session.add(
                SessionRow(
                    id=_sha256(secret),
                    user_id=row.id,
                    csrf_hash=_sha256(csrf),
                    created_at=now,
                    expires_at=expires_at,
                    last_seen_at=now,
                )
            )
            self._record(
                session,
                "auth.session",
                "user",
                row.id,
                actor=f"user:{row.username}",
                details={"username": row.username, "expires_at": expires_at.isoformat()},
            )
        return secret, csrf, expires_at

    def resolve_session(self, secret: str) -> tuple[UserRecord, SessionRecord]:
        """The user and session of a session secret; NotAuthorized when it is unknown, has
        been idle for `SESSION_IDLE`, is older than `SESSION_ABSOLUTE` or its user is
        disabled. Marks the session seen, at most once a minute."""
        refused = NotAuthorized("the session has ended; log in again")
        digest = _sha256(secret)
        now = _now()
        with self._read() as session:
            found = session.execute(
                select(SessionRow, UserRow)
                .join(UserRow, UserRow.id == SessionRow.user_id)
                .where(SessionRow.id == digest)
            ).first()
        if found is None:
            raise refused
        row, user = found
        if (
            row.expires_at <= now
            or row.last_seen_at + SESSION_IDLE <= now
            or user.disabled_at is not None
        ):
            with self._write() as session:
                session.execute(delete(SessionRow).where(SessionRow.id == digest))
            raise refused
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            with self._write() as session:
                fresh = session.get(SessionRow, digest)
                if fresh is None:  # ended meanwhile
                    raise refused
                fresh.last_seen_at = now
                row = fresh
        return UserRecord.of(user), SessionRecord.of(row, user.username)

    def end_session(self, secret: str) -> bool:
        """Log out: delete the session; False when there was none. Audited `auth.logout`."""
        digest = _sha256(secret)
        with self._write() as session:
            found = session.execute(
                select(SessionRow.id, UserRow.id, UserRow.username)
                .join(UserRow, UserRow.id == SessionRow.user_id)
                .where(SessionRow.id == digest)
            ).first()
            if found is None:
                return False
            _, user_id, username = found
            session.execute(delete(SessionRow).where(SessionRow.id == digest))
            self._record(
                session,
                "auth.logout",
                "user",
                user_id,
                actor=f"user:{username}",
                details={"username": username},
            )
        return True

    @staticmethod
    def check_csrf(session: SessionRecord, token: str) -> bool:
        """Whether `token` is the session's CSRF token; compares hashes of equal length
        in constant time."""
        return hmac.compare_digest(_sha256(token), session.csrf_hash)
