"""Retention: erase the calls whose retention time has passed, with a certificate each.

A call is erased when its `retain_until` is at or before `now`, or when it is still in
quarantine (its parties' consent never completed) and its quarantine ended by `now`. A
call without a `retain_until` (none assigned yet) is never erased for retention. A call
under legal hold is skipped and reported with the hold's id. Each erasure goes through
`erase_call` (search rows first, then crypto-shredding) and appends a `retention.erase`
erasure certificate to the audit chain in the same transaction as the erasure. Every run
ends with one audit entry: `retention.run`, or `retention.check` for a dry run, which
reads metadata only and changes nothing else. A call under a restriction of processing is
kept too.

The same run crypto-shreds the quarantined audio of spoken refusals whose quarantine
ended (`expire_refusal_quarantines`, `services.refusals`), each audited with a
certificate, and erases the calls such a refusal erased; a held call keeps both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.errors import ErasureRefused, InputError, NotFound
from callvault.services._context import Context
from callvault.services.calls import erase_call
from callvault.vault import ErasureCertificate

__all__ = [
    "RefusalExpiry",
    "RetentionErased",
    "RetentionReport",
    "RetentionSkipped",
    "expire_refusal_quarantines",
    "run_retention",
]

log = logging.getLogger("callvault.services")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class RetentionErased:
    """A call erased by retention; `certificate` is None in a dry run (it would be).
    `cause` is "retention" (its time passed) or "quarantine" (consent never completed;
    `retain_until` is then the end of the quarantine)."""

    call_id: str
    retention_class: str
    retain_until: datetime
    certificate: ErasureCertificate | None
    cause: str = "retention"

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "cause": self.cause,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "certificate": self.certificate.to_json() if self.certificate else None,
        }


@dataclass(frozen=True)
class RetentionSkipped:
    """An expired call that was kept: `reason` is `legal-hold` (see `hold_ids`),
    `restriction` (the data subject restricted processing: `restriction_id`), `not-due`
    (its retention was extended, or its consent completed, meanwhile) or `gone` (erased
    meanwhile)."""

    call_id: str
    retention_class: str
    retain_until: datetime
    reason: str
    hold_ids: tuple[str, ...] = ()
    restriction_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "reason": self.reason,
            "hold_ids": list(self.hold_ids),
            "restriction_id": self.restriction_id,
        }


@dataclass(frozen=True)
class RetentionReport:
    now: datetime
    dry_run: bool
    erased: tuple[RetentionErased, ...]
    skipped: tuple[RetentionSkipped, ...]
    refusals: tuple[RefusalExpiry, ...] = ()  # spoken-refusal quarantines ended (issue 20)

    @property
    def erased_call_ids(self) -> list[str]:
        """Every call this run erased: past retention, or erased by a spoken refusal
        whose quarantine ended (for the `call.erased` webhook)."""
        refused = [r.call_id for r in self.refusals if r.erasure is not None]
        return [e.call_id for e in self.erased if e.certificate is not None] + refused

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "dry_run": self.dry_run,
            "erased": [e.to_json() for e in self.erased],
            "skipped": [s.to_json() for s in self.skipped],
            "refusal_quarantines": [r.to_json() for r in self.refusals],
        }


def run_retention(
    ctx: Context,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    hook: Callable[[int, int], None] | None = None,
) -> RetentionReport:
    """Erase every expired call that is not held; `hook(done, total)` reports progress.

    `now` defaults to the current time. A later `now` is refused unless `dry_run`: retention
    never erases a call before its time (a dry run may look ahead).
    """
    clock = datetime.now(UTC)
    if now is None:
        now = clock
    elif now.tzinfo is None:
        raise InputError(f"now {now.isoformat()} has no time zone; add Z for UTC or an offset")
    elif now > clock and not dry_run:
        raise InputError(
            f"now {now.isoformat()} is in the future: retention erases only calls whose "
            "time has passed; use a dry run to look ahead"
        )
    erased: list[RetentionErased] = []
    skipped: list[RetentionSkipped] = []
    vault = ctx.vault
    refusals = expire_refusal_quarantines(ctx, now=now, dry_run=dry_run, actor=actor)
    due = [
        _Due(c.call_id, c.retention_class, c.retain_until, c.hold_ids, "retention")
        for c in vault.holds.expired_calls(now, include_held=True)
    ]
    due += [
        _Due(q.call_id, "quarantine", q.quarantine_until, q.hold_ids, "quarantine")
        for q in vault.consent.quarantined_calls(ended_by=now)
        if q.call_id not in {d.call_id for d in due}
    ]
    restricted = vault.restrictions.restricted_calls([d.call_id for d in due]) if due else {}
    for done, call in enumerate(due, 1):
        if call.hold_ids:
            skipped.append(
                RetentionSkipped(
                    call.call_id, call.retention_class, call.until, "legal-hold", call.hold_ids
                )
            )
        elif call.call_id in restricted:
            # The subject restricted processing (art. 18(1)(c): they need the data).
            skipped.append(
                RetentionSkipped(
                    call.call_id,
                    call.retention_class,
                    call.until,
                    "restriction",
                    restriction_id=restricted[call.call_id],
                )
            )
        elif dry_run:
            erased.append(
                RetentionErased(call.call_id, call.retention_class, call.until, None, call.cause)
            )
        else:
            erased_or_skipped = _erase(ctx, call, now, actor)
            if isinstance(erased_or_skipped, ErasureCertificate):
                erased.append(
                    RetentionErased(
                        call.call_id,
                        call.retention_class,
                        call.until,
                        erased_or_skipped,
                        call.cause,
                    )
                )
            else:
                reason, hold_ids = erased_or_skipped
                skipped.append(
                    RetentionSkipped(
                        call.call_id, call.retention_class, call.until, reason, hold_ids
                    )
                )
        if hook is not None:
            hook(done, len(due))
    report = RetentionReport(now, dry_run, tuple(erased), tuple(skipped), tuple(refusals))
    vault.record_event(
        "retention.check" if dry_run else "retention.run",
        "retention",
        None,
        actor=actor,
        details={
            "now": _iso(now),
            "erased" if not dry_run else "due": [e.call_id for e in erased],
            "skipped": [
                {
                    "call_id": s.call_id,
                    "reason": s.reason,
                    "hold_ids": list(s.hold_ids),
                    "restriction_id": s.restriction_id,
                }
                for s in skipped
            ],
            "refusal_quarantines": [r.detection_id for r in refusals],
        },
    )
    log.info("retention: %d erased, %d skipped (dry run: %s)", len(erased), len(skipped), dry_run)
    return report


@dataclass(frozen=True)
class _Due:
    call_id: str
    retention_class: str
    until: datetime
    hold_ids: tuple[str, ...]
    cause: str


_REASONS = {
    "retention": "retention period ended",
    "quarantine": "quarantine ended without every party's consent",
}


def _erase(
    ctx: Context, call: _Due, now: datetime, actor: str | None
) -> ErasureCertificate | tuple[str, tuple[str, ...]]:
    """The certificate, or why the call was kept after all (a hold, an extension or a
    consent made since the list of due calls was read)."""
    try:
        return erase_call(
            ctx,
            call.call_id,
            reason=_REASONS[call.cause],
            actor=actor,
            expired_by=now,
        )
    except ErasureRefused as exc:
        if exc.hold_id is not None:
            return "legal-hold", (exc.hold_id,)
        return "not-due", ()
    except NotFound:
        return "gone", ()


@dataclass(frozen=True)
class RefusalExpiry:
    """A quarantine that ended: shredded (`certificate`), the call erased too when the
    refusal had erased it (`erasure`), or kept (`skipped`: "legal-hold")."""

    detection_id: str
    call_id: str
    certificate: dict[str, Any] | None
    erasure: ErasureCertificate | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "detection_id": self.detection_id,
            "call_id": self.call_id,
            "certificate": self.certificate,
            "erasure": self.erasure.to_json() if self.erasure is not None else None,
            "skipped": self.skipped,
        }


def expire_refusal_quarantines(
    ctx: Context, *, now: datetime | None = None, dry_run: bool = False, actor: str | None = None
) -> list[RefusalExpiry]:
    """Crypto-shred every quarantine whose time has passed (`retention run`), and erase
    the calls that a refusal erased; a held call keeps both."""
    when = now or datetime.now(UTC)
    vault = ctx.vault
    done: list[RefusalExpiry] = []
    for detection in vault.refusals.due_quarantines(when):
        if vault.holds.is_held(detection.call_id):
            done.append(RefusalExpiry(detection.id, detection.call_id, None, skipped="legal-hold"))
            continue
        if dry_run:
            done.append(RefusalExpiry(detection.id, detection.call_id, None))
            continue
        certificate = vault.refusals.shred_quarantine(
            detection.id,
            reason="quarantine of a spoken refusal ended",
            status="expired",
            actor=actor,
        )
        erasure = None
        if detection.status == "applied" and detection.outcome == "erased":
            try:
                erasure = erase_call(
                    ctx,
                    detection.call_id,
                    reason="spoken refusal to be recorded; its quarantine ended",
                    actor=actor,
                )
            except (ErasureRefused, NotFound) as exc:
                log.info("call %s kept after its refusal quarantine: %s", detection.call_id, exc)
        done.append(RefusalExpiry(detection.id, detection.call_id, certificate, erasure))
    return done
