"""Use case: import audio files into the vault, through the recording policy.

Every call goes through the policy gate before anything is stored: a call the rules do
not allow is refused (`RecordingRefused`), and one whose jurisdictions need every party's
consent is refused (`ConsentRequired`) unless the caller says how all parties agreed
(`consent`, a method such as "pre-call-notice"). A stored call gets the decision in the
audit chain, its retention class and date, and, with `consent`, a consent record per
party (scopes record and analyse: transcription is analysis).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.capture import CapturedCall, FileImportOptions, import_file
from callvault.config import Config
from callvault.errors import ConsentRequired, InputError, RecordingRefused
from callvault.policy import Decision, decide, load_jurisdiction_table, retention_period
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.services.policy import rules_of
from callvault.vault import CONSENT_METHODS, Vault

__all__ = ["IngestedCall", "ingest_captured", "ingest_files", "policy_gate"]

log = logging.getLogger("callvault.services")


@dataclass(frozen=True)
class IngestedCall:
    source: str
    call_id: str
    recording_id: str
    duplicate: bool
    job_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "duplicate": self.duplicate,
            "job_id": self.job_id,
        }


# The gate does not use the notice text; decide() fills one in all the same.
_UNNAMED_ORGANISATION = "the organisation"
CONSENT_SCOPES_AT_INGEST = ("record", "analyse")


def policy_gate(
    config: Config, calls: Sequence[CapturedCall], *, consent: str | None = None
) -> list[Decision]:
    """The policy's decision for each call; raises for the first call that may not be
    kept, so that nothing of a batch is stored when one of its calls is refused."""
    if consent is not None and consent not in CONSENT_METHODS:
        raise InputError(
            f"--consent {consent!r} is not a consent method; use one of "
            f"{', '.join(CONSENT_METHODS)}"
        )
    rules = rules_of(config)
    table = load_jurisdiction_table(config.policy_jurisdictions)
    decisions = []
    for call in calls:
        decision = decide(
            [p.phone for p in call.participants if p.phone],
            direction=call.metadata.direction,
            team=None,
            group=None,
            category=None,
            at=call.metadata.started_at or datetime.now(UTC),
            rules=rules,
            table=table,
            organisation=config.organisation or _UNNAMED_ORGANISATION,
        )
        if not decision.record:
            why = "; ".join(
                f"{r.rule}: {r.said}"
                for r in decision.reasons
                if not r.rule.startswith("jurisdiction") and r.rule != "notice.language"
            )
            raise RecordingRefused(
                f"{call.source_name}: the recording rules do not allow keeping this call "
                f"({why}); nothing was stored"
            )
        if decision.consent == "all-party" and consent is None:
            where = ", ".join(sorted({j.key for j in decision.jurisdictions}))
            raise ConsentRequired(
                f"{call.source_name}: the law where the parties are ({where}) needs the "
                "consent of every party; say how they agreed with --consent "
                f"({', '.join(CONSENT_METHODS)}); nothing was stored"
            )
        decisions.append(decision)
    return decisions


def _carry_out(
    vault: Vault, call: CapturedCall, call_id: str, decision: Decision, consent: str | None
) -> None:
    """What the decision asks of a newly stored call: audit, retention, consent records."""
    details = {
        "record": decision.record,
        "consent": decision.consent,
        "notice_required": decision.notice_required,
        "retention_class": decision.retention_class,
        "legal_review": decision.legal_review,
        "reasons": [r.to_dict() for r in decision.reasons],  # no numbers in them
    }
    vault.record_event("policy.decision", "call", call_id, details=details)
    start = call.metadata.started_at or datetime.now(UTC)
    period = retention_period(decision.retention_class)
    vault.set_retention(call_id, decision.retention_class, start + period)
    if consent is None:
        return
    parties = [p.phone or p.name or p.role for p in call.participants] or ["unidentified party"]
    for party in parties:
        vault.record_consent(
            party,
            method=consent,
            scopes=CONSENT_SCOPES_AT_INGEST,
            call_id=call_id,
            given_at=start,
        )


def ingest_captured(
    config: Config,
    calls: Sequence[CapturedCall],
    *,
    consent: str | None = None,
    progress: Callable[[CapturedCall], None] | None = None,
) -> list[IngestedCall]:
    """Store calls that have already been checked (the vault is opened only now) and queue
    their transcription; the same recording is queued once. Each call passes the policy
    gate first (see the module's docstring); `consent` is how every party agreed."""
    decisions = policy_gate(config, calls, consent=consent)
    results = []
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        for call, decision in zip(calls, decisions, strict=True):
            stored = vault.store_call(call)
            if not stored.duplicate:
                _carry_out(vault, call, stored.call_id, decision, consent)
            job = enqueue_processing(queue, stored.call_id, stored.recording_id)
            results.append(
                IngestedCall(
                    call.source_name, stored.call_id, stored.recording_id, stored.duplicate, job.id
                )
            )
            if progress is not None:
                progress(call)
    return results


def ingest_files(
    config: Config,
    paths: Sequence[Path],
    options: FileImportOptions,
    *,
    consent: str | None = None,
    progress: Callable[[CapturedCall], None] | None = None,
) -> list[IngestedCall]:
    """Check every file first, then store them all: one bad input means nothing is written."""
    checked = [import_file(path, options, max_bytes=config.max_input_bytes) for path in paths]
    log.info("checked %d file(s); storing", len(checked))
    return ingest_captured(config, checked, consent=consent, progress=progress)
