"""Login throttling: failed sign-ins counted per account and per client address, with
exponential back-off (issue 17: 200 wrong passwords in a row, then the right one worked).

A key is `user:<user id>` or `addr:<client address>`; a submitted username that does not
exist is never a key, so it is never stored. Each failure of a key counts one more; once
a key has `after` failures the next attempt is refused until `blocked_until`:
`base * 2**(failures - after)` seconds after the last failure, at most `cap`. Failures
are forgotten `window` after the last one and after the back-off it earned (a quiet
period, not a fixed window, so waiting out one back-off does not hand out a fresh
allowance). The rows live in the database, so
every process and a restart see the same counts (migration 0015).

The refusal of a blocked key is decided before any password hash is computed, from a
read; failures are written in a short transaction after the hash check, never around it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callvault.accounts._models import KEY_MAX, ThrottleRow
from callvault.config import Config

__all__ = ["ThrottlePolicy", "account_key", "address_key"]

# 2**64 seconds is past any cap; a larger exponent would overflow a float.
_MAX_DOUBLINGS = 64


def account_key(user_id: str) -> str:
    return f"user:{user_id}"


def address_key(address: str) -> str:
    return f"addr:{address}"[:KEY_MAX]


@dataclass(frozen=True)
class ThrottlePolicy:
    """The settings `login_*` of one process."""

    account_after: int
    address_after: int
    window: timedelta
    base: float
    cap: float
    lock_after: int  # 0: accounts are never locked

    @classmethod
    def of(cls, config: Config) -> ThrottlePolicy:
        return cls(
            account_after=config.login_throttle_after,
            address_after=config.login_address_throttle_after,
            window=timedelta(seconds=config.login_throttle_window),
            base=config.login_backoff_base,
            cap=config.login_backoff_max,
            lock_after=config.login_lock_after,
        )

    def backoff(self, failures: int, after: int) -> float:
        """Seconds the next attempt waits after `failures` failures (0 below `after`)."""
        if failures < after:
            return 0.0
        return float(min(self.base * 2.0 ** min(failures - after, _MAX_DOUBLINGS), self.cap))


def _forgotten(row: ThrottleRow, policy: ThrottlePolicy, now: datetime) -> bool:
    # Quiet for a whole window after the last failure and after the back-off it earned.
    last = max(row.last_failure_at, row.blocked_until or row.last_failure_at)
    return last <= now - policy.window


def blocked_until(session: Session, keys: Iterable[str], now: datetime) -> datetime | None:
    """The latest time until which one of `keys` is refused, None when none is."""
    wanted = list(keys)
    if not wanted:
        return None
    latest = None
    for until in session.scalars(
        select(ThrottleRow.blocked_until).where(
            ThrottleRow.key.in_(wanted), ThrottleRow.blocked_until > now
        )
    ):
        if until is not None and (latest is None or until > latest):
            latest = until
    return latest


def retry_after(until: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `until`, at least 1 (the `Retry-After` value)."""
    return max(1, math.ceil((until - now).total_seconds()))


def _locked_row(session: Session, key: str, now: datetime) -> ThrottleRow:
    """The row of `key`, created when missing, locked for this transaction: two processes
    counting a failure of the same key at once count two."""
    values = {"key": key, "failures": 0, "last_failure_at": now, "blocked_until": None}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(ThrottleRow).values(**values).on_conflict_do_nothing())
    return session.scalars(
        select(ThrottleRow)
        .where(ThrottleRow.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def note_failure(
    session: Session, key: str, after: int, policy: ThrottlePolicy, now: datetime
) -> ThrottleRow:
    """Count one failed sign-in of `key`; the row, with `blocked_until` set once `after`
    failures were counted."""
    row = _locked_row(session, key, now)
    if row.failures and _forgotten(row, policy, now):
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    wait = policy.backoff(row.failures, after)
    row.blocked_until = now + timedelta(seconds=wait) if wait > 0 else None
    return row


def clear(session: Session, key: str) -> int:
    """Forget the failures of `key`; how many there were."""
    row = session.get(ThrottleRow, key)
    if row is None:
        return 0
    failures = row.failures
    session.delete(row)
    return failures


def sweep(session: Session, policy: ThrottlePolicy, now: datetime) -> None:
    """Delete rows whose failures are forgotten and whose back-off has ended: the table
    holds only addresses and accounts with recent failures."""
    horizon = now - policy.window
    session.execute(
        delete(ThrottleRow).where(
            and_(
                ThrottleRow.last_failure_at <= horizon,
                or_(ThrottleRow.blocked_until.is_(None), ThrottleRow.blocked_until <= horizon),
            )
        )
    )
