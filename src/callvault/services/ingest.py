"""Use case: import audio files into the vault, through the recording policy.

Every call goes through the policy gate (`admit`) before anything is stored: a call the
rules do not allow is refused (`RecordingRefused`). A call whose jurisdictions need every
party's consent is kept only when the caller says how all parties agreed (`consent`, a
method such as "pre-call-notice") or every party has a standing consent on record;
otherwise it is refused (`ConsentRequired`) or, with `consent_missing = quarantine`, kept
in quarantine: stored, not processed, until consent is complete.

A stored call gets, in the transaction that stores it, the decision in the audit chain,
its retention class and date, its consent state, and a consent record per party (scopes
record and analyse: transcription is analysis; from a standing consent, the scopes it
has of those two, with a note naming it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callvault.capture import CapturedCall, FileImportOptions, Participant, import_file
from callvault.config import Config
from callvault.errors import ConsentRequired, InputError, RecordingRefused, RecordingTooLong
from callvault.jobs import Queue
from callvault.policy import (
    Decision,
    JurisdictionTable,
    RuleSet,
    decide,
    load_jurisdiction_table,
    retention_period,
)
from callvault.services._context import Context
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.services.policy import rules_of
from callvault.vault import CONSENT_METHODS, Admission, ConsentGrant

__all__ = [
    "CallContext",
    "IngestedCall",
    "LoadedPolicy",
    "admit",
    "admit_one",
    "check_files",
    "ingest_captured",
    "ingest_files",
    "refuse_too_long",
    "store_admitted",
]

log = logging.getLogger("callvault.services")


@dataclass(frozen=True)
class IngestedCall:
    source: str
    call_id: str
    recording_id: str
    duplicate: bool
    job_id: str | None  # None: quarantined, queued once consent is complete
    consent_state: str = "not-needed"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "duplicate": self.duplicate,
            "job_id": self.job_id,
            "consent_state": self.consent_state,
        }


# The gate does not use the notice text; decide() fills one in all the same.
_UNNAMED_ORGANISATION = "the organisation"
CONSENT_SCOPES_AT_INGEST = ("record", "analyse")


@dataclass(frozen=True)
class CallContext:
    """What the rules may match on that the audio file does not say (docs/policy.md)."""

    team: str | None = None
    group: str | None = None
    category: str | None = None


def _identifiers(party: Participant) -> list[str]:
    return [i for i in (party.phone, party.name) if i]


def _decision_details(decision: Decision, consent_state: str) -> dict[str, Any]:
    return {
        "record": decision.record,
        "consent": decision.consent,
        "consent_state": consent_state,
        "notice_required": decision.notice_required,
        "retention_class": decision.retention_class,
        "legal_review": decision.legal_review,
        "reasons": [r.to_dict() for r in decision.reasons],  # no numbers in them
    }


def _consent_for(
    ctx: Context,
    participants: Sequence[Participant],
    name: str,
    decision: Decision,
    consent: str | None,
    start: datetime,
) -> tuple[str, tuple[ConsentGrant, ...]]:
    """The call's consent state and the consent records to store with it; raises
    ConsentRequired when every party must consent, has not, and quarantine is off."""
    if consent is not None:
        parties = [p.phone or p.name or p.role for p in participants] or ["unidentified party"]
        grants = tuple(
            ConsentGrant(party, consent, CONSENT_SCOPES_AT_INGEST, start) for party in parties
        )
        return "given", grants
    if decision.consent != "all-party":
        return "not-needed", ()
    standing = ctx.vault.consent.standing_consents(
        [i for party in participants for i in _identifiers(party)], start
    )
    covered: list[ConsentGrant] = []
    for party in participants:
        found = next((standing[i] for i in _identifiers(party) if i in standing), None)
        if found is None:
            break
        covered.append(
            ConsentGrant(
                found.participant,
                found.method,
                tuple(s for s in found.scopes if s in CONSENT_SCOPES_AT_INGEST),
                start,
                note=f"standing consent {found.id}",
            )
        )
    else:
        if participants:
            return "given", tuple(covered)
    if ctx.config.consent_missing == "quarantine":
        return "quarantined", ()
    where = ", ".join(sorted({j.key for j in decision.jurisdictions}))
    raise ConsentRequired(
        f"{name}: the law where the parties are ({where}) needs the consent of every party, "
        "and not every party has a standing consent on record; say how they agreed with "
        f"--consent ({', '.join(CONSENT_METHODS)}), or set "
        "CALLVAULT_CONSENT_MISSING=quarantine to keep such calls until consent is recorded; "
        "nothing was stored"
    )


@dataclass(frozen=True)
class LoadedPolicy:
    """The recording rules and the jurisdiction table, read once for many decisions."""

    rules: RuleSet
    table: JurisdictionTable

    @classmethod
    def of(cls, config: Config) -> LoadedPolicy:
        return cls(rules_of(config), load_jurisdiction_table(config.policy_jurisdictions))


def admit_one(
    ctx: Context,
    participants: Sequence[Participant],
    *,
    name: str,
    direction: str | None,
    started_at: datetime | None,
    consent: str | None = None,
    context: CallContext | None = None,
    now: datetime | None = None,
    numbers: Sequence[str] | None = None,
    policy: LoadedPolicy | None = None,
) -> Admission:
    """The policy gate for one call known by its parties (before its audio exists, as
    live capture asks at the INVITE): its admission, or RecordingRefused or
    ConsentRequired naming `name`. `numbers`, when given, are what the rules and the
    jurisdictions see instead of the parties' phone numbers (a network call's short
    numbers, such as 112, are not E.164 but the emergency deny-list must see them).
    `policy`: the rules and table already read, by a caller deciding on many calls."""
    if consent is not None and consent not in CONSENT_METHODS:
        raise InputError(
            f"--consent {consent!r} is not a consent method; use one of "
            f"{', '.join(CONSENT_METHODS)}"
        )
    config = ctx.config
    facts = context or CallContext()
    rules = policy or LoadedPolicy.of(config)
    moment = now or datetime.now(UTC)
    start = started_at or moment
    decision = decide(
        list(numbers) if numbers is not None else [p.phone for p in participants if p.phone],
        direction=direction,
        team=facts.team,
        group=facts.group,
        category=facts.category,
        at=start,
        rules=rules.rules,
        table=rules.table,
        organisation=config.organisation or _UNNAMED_ORGANISATION,
    )
    if not decision.record:
        why = "; ".join(
            f"{r.rule}: {r.said}"
            for r in decision.reasons
            if not r.rule.startswith("jurisdiction") and r.rule != "notice.language"
        )
        raise RecordingRefused(
            f"{name}: the recording rules do not allow keeping this call ({why}); "
            "nothing was stored"
        )
    state, grants = _consent_for(ctx, participants, name, decision, consent, start)
    return Admission(
        decision=_decision_details(decision, state),
        retention_class=decision.retention_class,
        retain_until=start + retention_period(decision.retention_class),
        consent_state=state,
        quarantine_until=(
            moment + timedelta(days=config.quarantine_days) if state == "quarantined" else None
        ),
        consents=grants,
    )


def refuse_too_long(config: Config, call: CapturedCall) -> None:
    """RecordingTooLong when the call's decoded audio is longer than
    CALLVAULT_MAX_DURATION, whichever capture source produced it (a file probed without
    a limit, an upload, a network capture)."""
    if call.audio.duration_s > config.max_duration:
        raise RecordingTooLong(
            call.source_name, limit_s=config.max_duration, decoded_s=call.audio.duration_s
        )


def admit(
    ctx: Context,
    calls: Sequence[CapturedCall],
    *,
    consent: str | None = None,
    context: CallContext | None = None,
    now: datetime | None = None,
) -> list[Admission]:
    """The policy gate: what to do with each call, decided before anything is stored.

    Raises for the first call that may not be kept (RecordingRefused, ConsentRequired),
    so that nothing of a batch is stored when one of its calls is refused.
    """
    for call in calls:
        refuse_too_long(ctx.config, call)
    policy = LoadedPolicy.of(ctx.config)
    return [
        admit_one(
            ctx,
            call.participants,
            name=call.source_name,
            direction=call.metadata.direction,
            started_at=call.metadata.started_at,
            consent=consent,
            context=context,
            now=now,
            policy=policy,
        )
        for call in calls
    ]


def ingest_captured(
    ctx: Context,
    calls: Sequence[CapturedCall],
    *,
    consent: str | None = None,
    context: CallContext | None = None,
    progress: Callable[[CapturedCall], None] | None = None,
    actor: str | None = None,
) -> list[IngestedCall]:
    """Store calls that have already been checked and queue their transcription; the same
    recording is queued once. Each call passes the policy gate first (`admit`); `consent`
    is how every party agreed. A quarantined call is stored but not queued: it is queued
    when its consent is complete (services.consent). The audit log names `ctx.actor`, or
    `actor` where the one storing is not the context's (the demo seed's system:demo)."""
    results = []
    admissions = admit(ctx, calls, consent=consent, context=context)
    queue = open_queue(ctx.config, ctx.vault)
    for call, admission in zip(calls, admissions, strict=True):
        results.append(store_admitted(ctx, queue, call, admission, actor=actor))
        if progress is not None:
            progress(call)
    return results


def store_admitted(
    ctx: Context,
    queue: Queue,
    call: CapturedCall,
    admission: Admission,
    *,
    actor: str | None = None,
) -> IngestedCall:
    """Store one call the gate admitted, audited as `actor` (default `ctx.actor`), and
    queue its processing unless it is quarantined or a party's consent to analysis is
    missing (`consent add` queues it once given)."""
    vault = ctx.vault
    refuse_too_long(ctx.config, call)
    stored = vault.calls.store_call(call, admission=admission, actor=actor or ctx.actor)
    state = (
        vault.consent.consent_state(stored.call_id) if stored.duplicate else admission.consent_state
    )
    job_id = None
    if state != "quarantined" and vault.consent.analysis_consented(stored.call_id):
        job_id = enqueue_processing(queue, stored.call_id, stored.recording_id).id
    return IngestedCall(
        call.source_name, stored.call_id, stored.recording_id, stored.duplicate, job_id, state
    )


def check_files(
    config: Config, paths: Sequence[Path], options: FileImportOptions
) -> list[CapturedCall]:
    """Check every file (probe and decode within the limits of `config`), opening no
    storage: the first half of `ingest_files`, which the CLI runs before it opens the
    vault, so that one bad input leaves nothing behind, not even a new data directory."""
    checked = [
        import_file(
            path, options, max_bytes=config.max_input_bytes, max_seconds=config.max_duration
        )
        for path in paths
    ]
    log.info("checked %d file(s); storing", len(checked))
    return checked


def ingest_files(
    ctx: Context,
    paths: Sequence[Path],
    options: FileImportOptions,
    *,
    consent: str | None = None,
    context: CallContext | None = None,
    progress: Callable[[CapturedCall], None] | None = None,
) -> list[IngestedCall]:
    """Check every file first, then store them all: one bad input means nothing is written."""
    checked = check_files(ctx.config, paths, options)
    return ingest_captured(ctx, checked, consent=consent, context=context, progress=progress)
