"""Local users, their roles and teams, API tokens and browser sessions (`Accounts`).

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
`Accounts` writes through the vault's unit of work (`vault.transaction`, audited with
`tx.audit`) and reads through `vault.reading()`, nothing private of it.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from callvault.accounts import _login, _records
from callvault.accounts._models import SessionRow, TokenRow, UserRow
from callvault.accounts._records import (
    _AUTH_FAILED,
    MAX_TOKEN_DAYS,
    SESSION_ABSOLUTE,
    SESSION_IDLE,
    TOKEN_PREFIX,
    TOUCH_INTERVAL,
    SessionRecord,
    TokenRecord,
    UserRecord,
    _check_name,
    _check_password,
    _check_role,
    _check_scopes,
    _sha256,
    normalise_username,
    user_row,
)
from callvault.errors import InputError, NotAuthorized, NotFound

if TYPE_CHECKING:
    from callvault.vault import Vault

__all__ = ["Accounts"]


def _end_sessions(session: Session, user_id: str) -> int:
    """Delete every session of a user; how many there were."""
    ids = list(session.scalars(select(SessionRow.id).where(SessionRow.user_id == user_id)))
    if ids:
        session.execute(delete(SessionRow).where(SessionRow.id.in_(ids)))
    return len(ids)


def _active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == "admin", UserRow.disabled_at.is_(None))
        )
        or 0
    )


class Accounts:
    """Users, API tokens, browser sessions and password sign-in, kept in `vault`'s
    database through its public unit of work (`transaction`) and reads (`reading`)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    # -- users -------------------------------------------------------------------------

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
        password_hash = _records._hasher.hash(password)
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            if session.scalars(select(UserRow.id).where(UserRow.username == name)).first():
                raise InputError(f"user {name} exists already; choose another username")
            row = UserRow(
                id=uuid.uuid4().hex,
                username=name,
                display_name=display,
                role=role,
                team=team,
                password_hash=password_hash,
                created_at=_records._now(),
            )
            session.add(row)
            session.flush()
            tx.audit(
                "user.add",
                "user",
                row.id,
                details={"username": name, "role": role, "team": team},
            )
            return UserRecord.of(row)

    def set_password(self, username: str, password: str, *, actor: str | None = None) -> None:
        """Replace a user's password and end their sessions; audited `user.password`."""
        _check_password(password)
        password_hash = _records._hasher.hash(password)
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            row = user_row(session, username)
            row.password_hash = password_hash
            ended = _end_sessions(session, row.id)
            tx.audit(
                "user.password",
                "user",
                row.id,
                details={"username": row.username, "sessions_ended": ended},
            )

    def set_role(
        self, username: str, role: str, team: str | None = None, *, actor: str | None = None
    ) -> UserRecord:
        """Set a user's role and team together (`team` None: no team). The last active
        admin keeps the admin role. Audited `user.role` with the old and new values."""
        role, team = _check_role(role, team)
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            row = user_row(session, username)
            if (
                row.role == "admin"
                and role != "admin"
                and row.disabled_at is None
                and _active_admins(session) <= 1
            ):
                raise InputError(
                    f"{row.username} is the last active admin; make another user admin first"
                )
            old = {"role": row.role, "team": row.team}
            row.role, row.team = role, team
            tx.audit(
                "user.role",
                "user",
                row.id,
                details={"username": row.username, "old": old, "new": {"role": role, "team": team}},
            )
            return UserRecord.of(row)

    def disable_user(self, username: str, *, actor: str | None = None) -> UserRecord:
        """Disable a user: logins, sessions and tokens are refused from now on (sessions
        are ended). The last active admin cannot be disabled. Audited `user.disable`."""
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            row = user_row(session, username)
            if row.disabled_at is not None:
                return UserRecord.of(row)
            if row.role == "admin" and _active_admins(session) <= 1:
                raise InputError(
                    f"{row.username} is the last active admin; make another user admin first"
                )
            row.disabled_at = _records._now()
            ended = _end_sessions(session, row.id)
            tx.audit(
                "user.disable",
                "user",
                row.id,
                details={"username": row.username, "sessions_ended": ended},
            )
            return UserRecord.of(row)

    def list_users(self) -> list[UserRecord]:
        """Every user, disabled ones too, by username."""
        with self.vault.reading() as session:
            query = select(UserRow).order_by(UserRow.username)
            return [UserRecord.of(row) for row in session.scalars(query)]

    def get_user(self, username: str) -> UserRecord:
        with self.vault.reading() as session:
            return UserRecord.of(user_row(session, username))

    def team_of(self, username: str) -> str | None:
        """The team of the user named `username` (a call's agent), None when there is no
        such user or they have no team."""
        with self.vault.reading() as session:
            return session.scalars(
                select(UserRow.team).where(UserRow.username == username.strip().lower())
            ).first()

    def agents_of_team(self, team: str) -> list[str]:
        """The usernames of the team's members, disabled ones included (their calls stay
        the team's), sorted."""
        with self.vault.reading() as session:
            return list(
                session.scalars(
                    select(UserRow.username).where(UserRow.team == team).order_by(UserRow.username)
                )
            )

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
        now = _records._now()
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            user = user_row(session, username)
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
            tx.audit(
                "token.create",
                "token",
                row.id,
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
        now = _records._now()
        with self.vault.reading() as session:
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
            with self.vault.transaction() as tx:
                tx.audit(
                    "auth.failed",
                    "token",
                    token.id,
                    actor=f"user:{user.username}",
                    details={"username": user.username, "reason": reason, "method": "token"},
                )
            raise refused
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
            with self.vault.transaction() as tx:
                row = tx.session.get(TokenRow, token.id)
                if row is not None:
                    row.last_used_at = now
                    token = row
        return UserRecord.of(user), TokenRecord.of(token, user.username)

    def list_tokens(self, username: str | None = None) -> list[TokenRecord]:
        """The tokens of one user, or of all, newest first (revoked and expired ones too)."""
        with self.vault.reading() as session:
            query = select(TokenRow, UserRow.username).join(UserRow, UserRow.id == TokenRow.user_id)
            if username is not None:
                query = query.where(UserRow.id == user_row(session, username).id)
            query = query.order_by(TokenRow.created_at.desc(), TokenRow.id)
            return [TokenRecord.of(row, name) for row, name in session.execute(query)]

    def revoke_token(self, token_id: str, *, actor: str | None = None) -> TokenRecord:
        """Revoke a token now; revoking it again changes nothing. Audited `token.revoke`."""
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
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
                row.revoked_at = _records._now()
                tx.audit(
                    "token.revoke",
                    "token",
                    row.id,
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
        now = _records._now()
        with self.vault.transaction() as tx:
            session = tx.session
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
            tx.audit(
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
        now = _records._now()
        with self.vault.reading() as session:
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
            with self.vault.transaction() as tx:
                tx.session.execute(delete(SessionRow).where(SessionRow.id == digest))
            raise refused
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            with self.vault.transaction() as tx:
                fresh = tx.session.get(SessionRow, digest)
                if fresh is None:  # ended meanwhile
                    raise refused
                fresh.last_seen_at = now
                row = fresh
        return UserRecord.of(user), SessionRecord.of(row, user.username)

    def end_session(self, secret: str) -> bool:
        """Log out: delete the session; False when there was none. Audited `auth.logout`."""
        digest = _sha256(secret)
        with self.vault.transaction() as tx:
            session = tx.session
            found = session.execute(
                select(SessionRow.id, UserRow.id, UserRow.username)
                .join(UserRow, UserRow.id == SessionRow.user_id)
                .where(SessionRow.id == digest)
            ).first()
            if found is None:
                return False
            _, user_id, username = found
            session.execute(delete(SessionRow).where(SessionRow.id == digest))
            tx.audit(
                "auth.logout",
                "user",
                user_id,
                actor=f"user:{username}",
                details={"username": username},
            )
        return True

    # -- password sign-in (`_login`) ----------------------------------------------------

    def authenticate(
        self, username: str, password: str, *, address: str | None = None
    ) -> UserRecord:
        """The user whose password this is, throttled and audited: see `_login`."""
        return _login.authenticate(self.vault, username, password, address=address)

    def unlock_user(self, username: str, *, actor: str | None = None) -> UserRecord:
        """Lift an account's lock and forget its failed sign-ins: see `_login`."""
        return _login.unlock_user(self.vault, username, actor=actor)

    @staticmethod
    def check_csrf(session: SessionRecord, token: str) -> bool:
        """Whether `token` is the session's CSRF token; compares hashes of equal length
        in constant time."""
        return hmac.compare_digest(_sha256(token), session.csrf_hash)
