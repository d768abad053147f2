"""Consent records, legal holds and retention of one call, as the edges use them: each
a single audited step of the storage (erasure and subject requests are in `calls`,
`rights` and `retention`)."""

from __future__ import annotations

from datetime import datetime

from callvault.services._context import Context
from callvault.vault import ConsentRecord, HoldRecord, RetentionInfo

__all__ = [
    "add_hold",
    "list_consents",
    "list_holds",
    "release_hold",
    "set_retention",
    "withdraw_consent",
]


def list_consents(
    ctx: Context,
    *,
    call_id: str | None = None,
    participant: str | None = None,
    actor: str | None = None,
) -> list[ConsentRecord]:
    """Consent records, of one call or one participant, oldest first (audited)."""
    return ctx.vault.consent.consents(call_id=call_id, participant=participant, actor=actor)


def withdraw_consent(
    ctx: Context, consent_id: str, *, at: datetime | None = None, actor: str | None = None
) -> ConsentRecord:
    """Mark a consent withdrawn at `at` (default now); the record stays."""
    return ctx.vault.consent.withdraw_consent(consent_id, at=at, actor=actor)


def list_holds(
    ctx: Context, *, active_only: bool = True, actor: str | None = None
) -> list[HoldRecord]:
    """Legal holds, oldest first (audited: subjects are personal data)."""
    return ctx.vault.holds.holds(active_only=active_only, actor=actor)


def add_hold(
    ctx: Context,
    call_id: str | None = None,
    subject: str | None = None,
    *,
    reason: str,
    actor: str | None = None,
) -> HoldRecord:
    """Put a call, or every call of a subject, on legal hold (exactly one of them)."""
    return ctx.vault.holds.add_hold(call_id, subject, reason=reason, actor=actor)


def release_hold(
    ctx: Context, hold_id: str, *, reason: str, actor: str | None = None
) -> HoldRecord:
    """Release a hold; what it held may be erased again."""
    return ctx.vault.holds.release_hold(hold_id, reason=reason, actor=actor)


def set_retention(
    ctx: Context,
    call_id: str,
    retention_class: str,
    retain_until: datetime | None,
    *,
    actor: str | None = None,
) -> RetentionInfo:
    """Set a call's retention class and the time after which it is erased (None: never)."""
    return ctx.vault.holds.set_retention(call_id, retention_class, retain_until, actor=actor)
