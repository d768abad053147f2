"""The account tables: users, API tokens, browser sessions and login throttling.

They sit on the vault's declarative `Base` (one metadata, one schema); the migrations
that create them are the vault's (0012 and 0015), so the schema is unchanged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.vault import Base, UTCDateTime

__all__ = ["KEY_MAX", "NAME_MAX", "TEAM_MAX", "SessionRow", "ThrottleRow", "TokenRow", "UserRow"]

TEAM_MAX = 64
NAME_MAX = 128
KEY_MAX = 80


class UserRow(Base):
    """A local user (migration 0012)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(TEAM_MAX), index=True)
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
    name: Mapped[str] = mapped_column(String(NAME_MAX))
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


class ThrottleRow(Base):
    """Recent failed sign-ins of one account or client address (migration 0015)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
