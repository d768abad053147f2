"""Password sign-in: `authenticate` with login throttling and account locks (issue 17:
200 wrong passwords in a row, then the right one worked; 40 parallel bad logins made an
admin's request take 8.6 s; failures were audited as this process with no address).

- Throttled attempts are refused (`TooManyAttempts`, HTTP 429 with `Retry-After`) from a
  read of `login_throttle`, before any hash is computed (`_throttle`).
- At most `login_concurrency` password hashes are verified at once per process; a
  sign-in beyond them is refused at once (`Overloaded`, 503) instead of queueing on the
  threads that serve every other request. The hashes run at a lower CPU priority
  (`CHECK_NICE`), so guessing takes the CPU only when signed-in users leave it.
- The hash is verified outside any transaction: the database's write lock is never held
  for the time of a hash. An unknown username is verified against a dummy hash, so the
  time of an answer does not tell whether it exists.
- `auth.failed` names the client's address as the actor (`remote:<address>`) and in its
  details; the username only when it names an existing user.
- `login_lock_after` failures of an account lock it (`user.lock`) until an administrator
  unlocks it (`unlock_user`, `user.unlock`); a successful sign-in resets the account's
  count (not the address's: one's own account must not reset a guesser's address).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from callvault.accounts import _records, _throttle
from callvault.accounts._models import UserRow
from callvault.accounts._records import _AUTH_FAILED, _USERNAME, UserRecord, user_row
from callvault.accounts._throttle import ThrottlePolicy, account_key, address_key
from callvault.errors import AccountLocked, NotAuthorized, Overloaded, TooManyAttempts

if TYPE_CHECKING:
    from callvault.vault import Transaction, Vault

__all__ = ["authenticate", "unlock_user"]

_LOCKED = (
    "this account is locked after too many failed sign-ins; an administrator can unlock it "
    "(callvault users unlock NAME, or the administration page)"
)
_SLOTS_LOCK = threading.Lock()
# The sign-in slots of each open vault (one per process), made on first use.
_SLOTS: weakref.WeakKeyDictionary[Vault, threading.BoundedSemaphore] = weakref.WeakKeyDictionary()
# The niceness of a password check's thread: requests of signed-in users go first, the
# way the job workers (`api.app.WORKER_NICE`) leave requests the CPU.
CHECK_NICE = 10


def _lower_priority() -> None:
    # On Linux a thread is a task of its own: PRIO_PROCESS with its id renices only it,
    # and the threads argon2 starts for its lanes inherit that. Elsewhere the same call
    # would renice the whole process, so it is left alone there.
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICE)
    except OSError:
        pass


def _verify_below_requests(stored: str, password: str) -> bool:
    """argon2's check of `password` against `stored`, on a thread of its own at a lower
    CPU priority (started per check: a hash costs far more than a thread, and a pool
    would keep lowered threads in every process that ever checked a password)."""
    outcome: list[bool | BaseException] = []

    def check() -> None:
        _lower_priority()
        try:
            outcome.append(_records._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            outcome.append(False)
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=check, name="callvault-password-check", daemon=True)
    worker.start()
    worker.join()
    if not outcome:
        return False
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _login_slots(vault: Vault) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        slots = _SLOTS.get(vault)
        if slots is None:
            slots = _SLOTS[vault] = threading.BoundedSemaphore(vault.config.login_concurrency)
    return slots


def authenticate(
    vault: Vault, username: str, password: str, *, address: str | None = None
) -> UserRecord:
    """The user whose password this is; NotAuthorized (one message for every cause)
    otherwise. `address` is the client's address (None: this process's own user).

    Overloaded (503) when `login_concurrency` sign-ins are being checked already,
    before anything else; TooManyAttempts (429) while the account or the address is
    throttled, before any hash is computed. An unknown username costs a hash
    verification too, and is never stored. The right password of a locked account
    raises AccountLocked. A hash made with older argon2 parameters is replaced. The
    hash is verified outside any transaction. Audited `auth.login` / `auth.failed`
    (and `user.lock`)."""
    policy = ThrottlePolicy.of(vault.config)
    name = username.strip().lower()
    well_formed = _USERNAME.fullmatch(name) is not None
    slots = _login_slots(vault)
    # A slot first: beyond the limit, a sign-in is refused before it costs even a
    # database read (a flood of guesses then costs the server next to nothing).
    if not slots.acquire(blocking=False):
        raise Overloaded(
            "too many sign-ins are being checked at once; try again in a moment",
            retry_after=1,
        )
    try:
        now = _records._now()
        with vault.reading() as session:
            row = (
                session.scalars(select(UserRow).where(UserRow.username == name)).first()
                if well_formed
                else None
            )
            keys = [address_key(address)] if address else []
            if row is not None:
                keys.append(account_key(row.id))
            until = _throttle.blocked_until(session, keys, now)
        if until is not None:
            wait = _throttle.retry_after(until, now)
            raise TooManyAttempts(
                f"too many failed sign-ins; try again in {wait} seconds", retry_after=wait
            )
        stored = row.password_hash if row is not None else _records._dummy_hash()
        valid = _verify_below_requests(stored, password)
    finally:
        slots.release()
    return _login_outcome(vault, row, stored, valid, password, address, policy)


def _login_outcome(
    vault: Vault,
    found: UserRow | None,
    verified_hash: str,
    valid: bool,
    password: str,
    address: str | None,
    policy: ThrottlePolicy,
) -> UserRecord:
    """Record a verified sign-in (`valid`: the password matched `verified_hash`):
    reset or count the failures, lock the account at `lock_after`, audit."""
    now = _records._now()
    # Nobody is authenticated yet: the client's address is the actor, not this process.
    actor = f"remote:{address}" if address else None
    with vault.transaction(actor=actor) as tx:
        session = tx.session
        row = session.get(UserRow, found.id) if found is not None else None
        if row is not None and row.password_hash != verified_hash:
            valid = False  # the password changed meanwhile
        reason = None
        if row is None:
            reason = "unknown-user"
        elif not valid:
            reason = "wrong-password"
        elif row.disabled_at is not None:
            reason = "disabled"
        elif row.locked_at is not None:
            reason = "locked"
        if reason is None:
            assert row is not None
            _throttle.clear(session, account_key(row.id))
            rehashed = _records._hasher.check_needs_rehash(row.password_hash)
            if rehashed:
                row.password_hash = _records._hasher.hash(password)
            tx.audit(
                "auth.login",
                "user",
                row.id,
                actor=f"user:{row.username}",
                details={
                    "username": row.username,
                    "method": "password",
                    "rehashed": rehashed,
                    "address": address,
                },
            )
            return UserRecord.of(row)
        details: dict[str, Any] = {"reason": reason, "method": "password", "address": address}
        if row is not None:
            # Only the name of an existing user: any other string may be a password.
            details["username"] = row.username
        if reason in ("unknown-user", "wrong-password"):
            _count_failure(tx, row, address, policy, now, details)
        tx.audit("auth.failed", "user", row.id if row is not None else None, details=details)
    # After the commit: the failure stays counted and audited.
    if reason == "locked":
        raise AccountLocked(_LOCKED)
    raise NotAuthorized(_AUTH_FAILED)


def _count_failure(
    tx: Transaction,
    row: UserRow | None,
    address: str | None,
    policy: ThrottlePolicy,
    now: datetime,
    details: dict[str, Any],
) -> None:
    session = tx.session
    waits = []
    if address:
        counted = _throttle.note_failure(
            session, address_key(address), policy.address_after, policy, now
        )
        waits.append(counted.blocked_until)
    if row is not None:
        counted = _throttle.note_failure(
            session, account_key(row.id), policy.account_after, policy, now
        )
        waits.append(counted.blocked_until)
        details["failures"] = counted.failures
        if row.locked_at is None and 0 < policy.lock_after <= counted.failures:
            row.locked_at = now
            tx.audit(
                "user.lock",
                "user",
                row.id,
                details={"username": row.username, "failures": counted.failures},
            )
    until = max((w for w in waits if w is not None), default=None)
    if until is not None:
        details["blocked_for"] = _throttle.retry_after(until, now)
    _throttle.sweep(session, policy, now)


def unlock_user(vault: Vault, username: str, *, actor: str | None = None) -> UserRecord:
    """Lift the lock of an account and forget its failed sign-ins (its back-off
    ends too). Audited `user.unlock` when there was something to lift."""
    with vault.transaction(actor=actor) as tx:
        row = user_row(tx.session, username)
        failures = _throttle.clear(tx.session, account_key(row.id))
        if row.locked_at is None and not failures:
            return UserRecord.of(row)
        was_locked = row.locked_at is not None
        row.locked_at = None
        tx.audit(
            "user.unlock",
            "user",
            row.id,
            details={"username": row.username, "locked": was_locked, "failures": failures},
        )
        return UserRecord.of(row)
