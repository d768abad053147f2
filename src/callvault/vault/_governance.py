"""Legal holds, retention dates and consent records, and the erasure certificate.

The vault carries out what policy decides: it stores holds, retention dates and consents,
refuses to erase a held call, and certifies what an erasure destroyed. `Vault` takes
these operations to its repositories `holds` (`_holds.py`) and `consent` (`_consent.py`).

What goes into the audit chain: ids, methods, scopes, dates and the operator's reasons.
Subjects' numbers and names, consent notes and participants do not: the chain cannot be
edited, so personal data written into it could never be erased.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from callvault.capture import parse_e164
from callvault.errors import ErasureRefused, InputError, NotFound
from callvault.vault._audit import iter_entries
from callvault.vault._models import (
    ArtifactRow,
    CallRow,
    ConsentRow,
    LegalHoldRow,
    ParticipantRow,
    RecordingRow,
    TranscriptRow,
)

__all__ = [
    "CONSENT_METHODS",
    "CONSENT_SCOPES",
    "CONSENT_STATES",
    "Admission",
    "ConsentGrant",
    "ConsentRecord",
    "DestroyedBlob",
    "DestroyedKey",
    "ErasureBlock",
    "ErasureCertificate",
    "ExpiredCall",
    "LEG_ERASE_ACTION",
    "HoldRecord",
    "QuarantinedCall",
    "RetentionInfo",
    "SubjectCall",
    "erasure_certificate",
    "call_subjects",
    "active_holds",
    "refuse_if_held",
    "refuse_unless_expired",
    "subject_match",
]

CONSENT_METHODS = ("verbal", "dtmf", "web", "ivr", "pre-call-notice")
CONSENT_SCOPES = ("record", "analyse", "training")
# A call's consent state: "not-needed" (no law of its parties asks every party's consent),
# "given" (every party's consent is recorded) or "quarantined" (kept, unprocessed and
# unread, until it is given or the quarantine ends and the call is erased).
CONSENT_STATES = ("not-needed", "given", "quarantined")
ERASURE_METHOD = "crypto-shredding"
# The audit action of erasing one party's leg of a call (`rights erase --scope leg`);
# its details name the participants blanked.
LEG_ERASE_ACTION = "recording.erase-leg"

_RETENTION_CLASS = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_TEXT_LIMIT = 256  # reasons go into audit_log.purpose, a VARCHAR(256)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise InputError(f"{what} {value.isoformat()} has no time zone; give an aware time")
    return value.astimezone(UTC)


def _reason(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise InputError(f"{what} is empty; say why (it is written to the audit log)")
    if len(text) > _TEXT_LIMIT:
        raise InputError(f"{what} has {len(text)} characters; keep it to {_TEXT_LIMIT}")
    return text


def _subject(value: str, what: str) -> str:
    """A data subject: an E.164 number (normalised when it starts with +) or another id."""
    text = value.strip()
    if not text:
        raise InputError(f"{what} is empty; give a phone number such as +442071234567 or an id")
    if text.startswith("+"):
        return parse_e164(text, option=what)
    if len(text) > _TEXT_LIMIT:
        raise InputError(f"{what} has {len(text)} characters; keep it to {_TEXT_LIMIT}")
    return text


def _check_retention_class(retention_class: str) -> None:
    if not _RETENTION_CLASS.fullmatch(retention_class):
        raise InputError(
            f"retention class {retention_class!r} is not a class name; use up to 32 "
            "lower-case letters, digits, '.', '_' or '-', such as standard"
        )


def _no_such_hold(hold_id: str) -> NotFound:
    return NotFound(f"hold {hold_id} does not exist; `callvault hold list --all` shows the holds")


def _no_such_consent(consent_id: str) -> NotFound:
    return NotFound(
        f"consent {consent_id} does not exist; `callvault consent list` shows the consents"
    )


# -- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldRecord:
    """A legal hold on one call (`call_id`) or on a data subject (`subject`)."""

    id: str
    call_id: str | None
    subject: str | None
    reason: str
    created_by: str
    created_at: datetime
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None

    @classmethod
    def of(cls, row: LegalHoldRow) -> HoldRecord:
        return cls(
            row.id,
            row.call_id,
            row.subject_id,
            row.reason,
            row.created_by,
            row.created_at,
            row.released_at,
            row.released_by,
            row.release_reason,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "subject": self.subject,
            "reason": self.reason,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "released_at": _iso(self.released_at),
            "released_by": self.released_by,
            "release_reason": self.release_reason,
        }


@dataclass(frozen=True)
class ConsentRecord:
    """A participant's consent; `call_id` is null for standing consent or after erasure."""

    id: str
    call_id: str | None
    participant: str
    method: str
    scopes: tuple[str, ...]
    given_at: datetime
    withdrawn_at: datetime | None
    recorded_by: str
    note: str | None
    standing: bool = False

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None

    @classmethod
    def of(cls, row: ConsentRow) -> ConsentRecord:
        return cls(
            row.id,
            row.call_id,
            row.participant,
            row.method,
            tuple(row.scopes.split(",")),
            row.given_at,
            row.withdrawn_at,
            row.recorded_by,
            row.note,
            row.standing,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "standing": self.standing,
            "participant": self.participant,
            "method": self.method,
            "scopes": list(self.scopes),
            "given_at": _iso(self.given_at),
            "withdrawn_at": _iso(self.withdrawn_at),
            "active": self.active,
            "recorded_by": self.recorded_by,
            "note": self.note,
        }


@dataclass(frozen=True)
class ConsentGrant:
    """A consent to store with a new call (see `Admission`)."""

    participant: str
    method: str
    scopes: tuple[str, ...]
    given_at: datetime
    note: str | None = None


@dataclass(frozen=True)
class Admission:
    """What the policy gate decided for a new call, carried out by `Vault.store_call` in
    the transaction that stores the call: a crash leaves the call with all of it or none.

    `decision` is the audit entry's details (ids, rules and outcomes; no numbers).
    """

    decision: dict[str, Any]
    retention_class: str
    retain_until: datetime | None
    consent_state: str = "not-needed"
    quarantine_until: datetime | None = None
    consents: tuple[ConsentGrant, ...] = ()

    def __post_init__(self) -> None:
        if self.consent_state not in CONSENT_STATES:
            raise ValueError(f"unknown consent state {self.consent_state!r}")
        if (self.consent_state == "quarantined") != (self.quarantine_until is not None):
            raise ValueError("a quarantined call needs quarantine_until, and only it")


@dataclass(frozen=True)
class QuarantinedCall:
    call_id: str
    quarantine_until: datetime
    hold_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionInfo:
    call_id: str
    retention_class: str
    retain_until: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
        }


@dataclass(frozen=True)
class ExpiredCall:
    """A call whose `retain_until` has passed; `hold_ids` are the active holds on it,
    `restriction_id` the active restriction of processing that covers it."""

    call_id: str
    retention_class: str
    retain_until: datetime
    hold_ids: tuple[str, ...] = ()
    restriction_id: str | None = None


@dataclass(frozen=True)
class DestroyedKey:
    """A data key destroyed by an erasure: it is named by its recording's id."""

    recording_id: str
    kek_id: str | None  # None when the key was already gone

    def to_json(self) -> dict[str, Any]:
        return {"id": self.recording_id, "wrapped_under": self.kek_id}


@dataclass(frozen=True)
class DestroyedBlob:
    key: str
    kind: str  # recording | transcript | insights | original
    recording_id: str
    ciphertext_sha256: str
    ciphertext_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "recording_id": self.recording_id,
            "ciphertext_sha256": self.ciphertext_sha256,
            "ciphertext_size": self.ciphertext_size,
        }


@dataclass(frozen=True)
class ErasureCertificate:
    """What one erasure destroyed. Anyone holding a copy of a blob can check its hash
    here, and that no key to decrypt it is left."""

    call_id: str
    recording_ids: tuple[str, ...]
    data_keys: tuple[DestroyedKey, ...]
    blobs: tuple[DestroyedBlob, ...]
    retention_class: str
    retain_until: datetime | None
    erased_at: datetime
    method: str = ERASURE_METHOD

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_ids": list(self.recording_ids),
            "data_keys": [k.to_json() for k in self.data_keys],
            "blobs": [b.to_json() for b in self.blobs],
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "erased_at": _iso(self.erased_at),
            "method": self.method,
        }


@dataclass(frozen=True)
class SubjectCall:
    """A call in which a data subject took part (`role`: their first matching party)."""

    call_id: str
    started_at: datetime | None
    role: str
    other_participants: int

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "started_at": _iso(self.started_at),
            "role": self.role,
            "other_participants": self.other_participants,
        }


@dataclass(frozen=True)
class ErasureBlock:
    """Why a call may not be erased on request: a legal hold (`hold_id`, `reason`), a
    retention duty (`retention_class` until `retain_until`) or a data subject's
    restriction of processing (`restriction_id`, `reason`; GDPR art. 18)."""

    call_id: str
    rule: str  # legal-hold | retention-duty | restriction
    hold_id: str | None = None
    reason: str | None = None
    retention_class: str | None = None
    retain_until: datetime | None = None
    restriction_id: str | None = None

    def describe(self) -> str:
        if self.rule == "legal-hold":
            return f"call {self.call_id} is under legal hold {self.hold_id} ({self.reason})"
        if self.rule == "restriction":
            return (
                f"call {self.call_id} is restricted by restriction {self.restriction_id} "
                f"({self.reason}); lift it first (`callvault rights lift "
                f"{self.restriction_id} --reason ...`)"
            )
        return (
            f"call {self.call_id} has retention class {self.retention_class}, a duty to keep "
            f"it until {_iso(self.retain_until) or 'no end date'}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "rule": self.rule,
            "hold_id": self.hold_id,
            "reason": self.reason,
            "retention_class": self.retention_class,
            "retain_until": _iso(self.retain_until),
            "restriction_id": self.restriction_id,
        }


# Retention classes that stand for a legal duty to keep the recording (MiFID II art. 16(7)
# asks investment firms to keep call recordings for 5 to 7 years): an erasure request does
# not override them while they run (GDPR art. 17(3)(b)).
DUTY_CLASS_PREFIXES = ("mifid",)


# -- used by Vault.delete_call, inside its transaction ----------------------------------


def active_holds(session: Session, call_ids: Iterable[str] | None) -> dict[str, list[str]]:
    """Active hold ids by call id (oldest hold first), for the given calls or all calls.

    A call is held by a hold on the call itself or on a subject that is the exact number
    or name of one of its participants.
    """
    wanted = None if call_ids is None else set(call_ids)
    held: dict[str, list[str]] = {}
    holds = session.scalars(
        select(LegalHoldRow)
        .where(LegalHoldRow.released_at.is_(None))
        .order_by(LegalHoldRow.created_at, LegalHoldRow.id)
    ).all()
    subjects: dict[str, list[str]] = {}
    for hold in holds:
        if hold.call_id is not None:
            if wanted is None or hold.call_id in wanted:
                held.setdefault(hold.call_id, []).append(hold.id)
        elif hold.subject_id is not None:
            subjects.setdefault(hold.subject_id, []).append(hold.id)
    if subjects:
        names = list(subjects)
        rows = session.execute(
            select(ParticipantRow.call_id, ParticipantRow.phone, ParticipantRow.name).where(
                or_(ParticipantRow.phone.in_(names), ParticipantRow.name.in_(names))
            )
        ).all()
        for call_id, phone, name in rows:
            if wanted is not None and call_id not in wanted:
                continue
            ids = held.setdefault(call_id, [])
            for value in (phone, name):
                for hold_id in subjects.get(value, []) if value is not None else []:
                    if hold_id not in ids:
                        ids.append(hold_id)
    order = {hold.id: n for n, hold in enumerate(holds)}
    return {call: sorted(ids, key=order.__getitem__) for call, ids in held.items()}


def subject_match(who: str) -> ColumnElement[bool]:
    """Participants whose number equals `who` (normalised by `_subject`) or whose name
    equals it in any case: how a data subject is matched by `subject_calls` and by
    restrictions of processing."""
    return or_(ParticipantRow.phone == who, func.lower(ParticipantRow.name) == who.lower())


def call_subjects(session: Session, call_id: str) -> tuple[str, ...]:
    """The numbers and names of a call's participants: what subject holds match."""
    rows = session.execute(
        select(ParticipantRow.phone, ParticipantRow.name).where(ParticipantRow.call_id == call_id)
    ).all()
    return tuple(sorted({value for row in rows for value in row if value is not None}))


def erased_parties(session: Session, call: CallRow) -> set[str]:
    """The ids of the participants whose leg of `call` was erased: named by a signed
    `recording.erase-leg` entry of the audit chain, and still without number or name.
    Such a party is no longer a party of the call (issue 17). Read only for a call
    marked partly erased; a row edited outside callvault cannot add a name here."""
    if call.erasure_state != "partial":
        return set()
    named = {
        str(participant_id)
        for entry in iter_entries(session, object_id=call.id, action=LEG_ERASE_ACTION)
        for participant_id in entry.details.get("blanked_participants", ())
    }
    if not named:
        return set()
    return set(
        session.scalars(
            select(ParticipantRow.id).where(
                ParticipantRow.call_id == call.id,
                ParticipantRow.id.in_(named),
                ParticipantRow.phone.is_(None),
                ParticipantRow.name.is_(None),
            )
        )
    )


def refuse_if_held(session: Session, call_id: str, subjects: Iterable[str]) -> None:
    """Raise ErasureRefused, naming the (oldest) hold and its reason, while a hold on the
    call or on one of `subjects` is active."""
    names = list(subjects)
    target = LegalHoldRow.call_id == call_id
    if names:
        target = or_(target, LegalHoldRow.subject_id.in_(names))
    holds = session.scalars(
        select(LegalHoldRow)
        .where(LegalHoldRow.released_at.is_(None), target)
        .order_by(LegalHoldRow.created_at, LegalHoldRow.id)
    ).all()
    if not holds:
        return
    hold = holds[0]
    more = f" and {len(holds) - 1} more" if len(holds) > 1 else ""
    raise ErasureRefused(
        f"call {call_id} is under legal hold {hold.id} ({hold.reason}){more}; it cannot be "
        f"erased until the hold is released (`callvault hold remove {hold.id} --reason ...`)",
        call_id=call_id,
        hold_id=hold.id,
    )


def refuse_unless_expired(call: CallRow, now: datetime) -> None:
    """Refuse unless the call's retention time, or its quarantine, ended by `now`."""
    quarantine_ended = (
        call.consent_state == "quarantined"
        and call.quarantine_until is not None
        and call.quarantine_until <= now
    )
    if not quarantine_ended and (call.retain_until is None or call.retain_until > now):
        raise ErasureRefused(
            f"call {call.id} is not due for erasure at {now.isoformat()} (retain until "
            f"{_iso(call.retain_until) or 'not set'}); nothing was erased",
            call_id=call.id,
        )


def erasure_certificate(
    call: CallRow,
    recordings: list[RecordingRow],
    erased_at: datetime,
    keys: Mapping[str, str | None],
    transcripts: Mapping[str, TranscriptRow],
    artifacts: Mapping[str, Sequence[ArtifactRow]] | None = None,
) -> ErasureCertificate:
    """What the erasure of `call` will destroy, gathered before anything is deleted:
    `keys` maps a recording id to the id of the key its data key is wrapped under,
    `transcripts` a recording id to its transcript's row, `artifacts` to its artifacts'
    rows (insights, a kept original)."""
    destroyed: list[DestroyedKey] = []
    blobs: list[DestroyedBlob] = []
    for recording in recordings:
        destroyed.append(DestroyedKey(recording.id, keys.get(recording.id)))
        blobs.append(
            DestroyedBlob(
                recording.blob_key,
                "recording",
                recording.id,
                recording.ciphertext_sha256,
                recording.ciphertext_size,
            )
        )
        transcript = transcripts.get(recording.id)
        if transcript is not None:
            blobs.append(
                DestroyedBlob(
                    transcript.blob_key,
                    "transcript",
                    recording.id,
                    transcript.ciphertext_sha256,
                    transcript.ciphertext_size,
                )
            )
        for artifact in (artifacts or {}).get(recording.id, ()):
            blobs.append(
                DestroyedBlob(
                    artifact.blob_key,
                    artifact.kind,
                    recording.id,
                    artifact.ciphertext_sha256,
                    artifact.ciphertext_size,
                )
            )
    return ErasureCertificate(
        call_id=call.id,
        recording_ids=tuple(r.id for r in recordings),
        data_keys=tuple(destroyed),
        blobs=tuple(blobs),
        retention_class=call.retention_class,
        retain_until=call.retain_until,
        erased_at=erased_at,
    )
