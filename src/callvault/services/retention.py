"""Retention: erase the calls whose retention time has passed, with a certificate each.

A call is erased when its `retain_until` is at or before `now`. A call without a
`retain_until` (none assigned yet) is never erased here. A call under legal hold is
skipped and reported with the hold's id. Each erasure goes through `erase_call` (search
rows first, then crypto-shredding) and appends a `retention.erase` erasure certificate to
the audit chain in the same transaction as the erasure. Every run ends with one audit
entry: `retention.run`, or `retention.check` for a dry run, which reads metadata only
and changes nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.config import Config
from callvault.errors import ErasureRefused, InputError, NotFound
from callvault.services.calls import erase_call
from callvault.vault import ErasureCertificate, Vault

__all__ = ["RetentionErased", "RetentionReport", "RetentionSkipped", "run_retention"]

log = logging.getLogger("callvault.services")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class RetentionErased:
    """A call erased by retention; `certificate` is None in a dry run (it would be)."""

    call_id: str
    retention_class: str
    retain_until: datetime
    certificate: ErasureCertificate | None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "certificate": self.certificate.to_json() if self.certificate else None,
        }


@dataclass(frozen=True)
class RetentionSkipped:
    """An expired call that was kept: `reason` is `legal-hold` (see `hold_ids`),
    `not-due` (its retention was extended meanwhile) or `gone` (erased meanwhile)."""

    call_id: str
    retention_class: str
    retain_until: datetime
    reason: str
    hold_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "reason": self.reason,
            "hold_ids": list(self.hold_ids),
        }


@dataclass(frozen=True)
class RetentionReport:
    now: datetime
    dry_run: bool
    erased: tuple[RetentionErased, ...]
    skipped: tuple[RetentionSkipped, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "dry_run": self.dry_run,
            "erased": [e.to_json() for e in self.erased],
            "skipped": [s.to_json() for s in self.skipped],
        }


def run_retention(
    config: Config,
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
    with Vault.open(config) as vault:
        due = vault.expired_calls(now, include_held=True)
        for done, call in enumerate(due, 1):
            if call.hold_ids:
                skipped.append(
                    RetentionSkipped(
                        call.call_id,
                        call.retention_class,
                        call.retain_until,
                        "legal-hold",
                        call.hold_ids,
                    )
                )
            elif dry_run:
                erased.append(
                    RetentionErased(call.call_id, call.retention_class, call.retain_until, None)
                )
            else:
                erased_or_skipped = _erase(vault, call.call_id, now, actor)
                if isinstance(erased_or_skipped, ErasureCertificate):
                    erased.append(
                        RetentionErased(
                            call.call_id, call.retention_class, call.retain_until, erased_or_skipped
                        )
                    )
                else:
                    reason, hold_ids = erased_or_skipped
                    skipped.append(
                        RetentionSkipped(
                            call.call_id, call.retention_class, call.retain_until, reason, hold_ids
                        )
                    )
            if hook is not None:
                hook(done, len(due))
        report = RetentionReport(now, dry_run, tuple(erased), tuple(skipped))
        vault.record_event(
            "retention.check" if dry_run else "retention.run",
            "retention",
            None,
            actor=actor,
            details={
                "now": _iso(now),
                "erased" if not dry_run else "due": [e.call_id for e in erased],
                "skipped": [
                    {"call_id": s.call_id, "reason": s.reason, "hold_ids": list(s.hold_ids)}
                    for s in skipped
                ],
            },
        )
    log.info("retention: %d erased, %d skipped (dry run: %s)", len(erased), len(skipped), dry_run)
    return report


def _erase(
    vault: Vault, call_id: str, now: datetime, actor: str | None
) -> ErasureCertificate | tuple[str, tuple[str, ...]]:
    """The certificate, or why the call was kept after all (a hold or an extension made
    since the list of expired calls was read)."""
    try:
        return erase_call(
            vault,
            call_id,
            reason="retention period ended",
            actor=actor,
            expired_by=now,
        )
    except ErasureRefused as exc:
        if exc.hold_id is not None:
            return "legal-hold", (exc.hold_id,)
        return "not-due", ()
    except NotFound:
        return "gone", ()
