"""Legal holds, retention dates and consent records, and the erasure certificate.

The vault carries out what policy decides: it stores holds, retention dates and consents,
refuses to erase a held call, and certifies what an erasure destroyed. `Vault` takes
these operations from `GovernanceOps`; they share its transactions and audit chain.

What goes into the audit chain: ids, methods, scopes, dates and the operator's reasons.
Subjects' numbers and names, consent notes and participants do not: the chain cannot be
edited, so personal data written into it could never be erased.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from callvault.capture import parse_e164
from callvault.errors import ConsentRequired, ErasureRefused, InputError, NotFound, Quarantined
from callvault.vault._audit import AuditEntry, iter_entries
from callvault.vault._core import VaultCore
from callvault.vault._models import (
    ArtifactRow,
    CallRow,
    ConsentRow,
    LegalHoldRow,
    ParticipantRow,
    RecordingRow,
    RestrictionRow,
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
    "GovernanceOps",
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


# -- the operations Vault offers ----------------------------------------------------------


class GovernanceOps(VaultCore):
    """Legal holds, retention and consent: mixed into `Vault`."""

    # -- legal holds -------------------------------------------------------------------

    def add_hold(
        self,
        call_id: str | None = None,
        subject: str | None = None,
        *,
        reason: str,
        actor: str | None = None,
    ) -> HoldRecord:
        """Put a call, or every call of a subject (a participant's number or name), on
        legal hold: it cannot be erased, by request or by retention, until released."""
        if (call_id is None) == (subject is None):
            raise InputError("a hold is on a call or on a subject: give exactly one of them")
        why = _reason(reason, "the reason")
        who = _subject(subject, "the subject") if subject is not None else None
        with self._write() as session:
            if call_id is not None:
                self._call_row(session, call_id)
            row = LegalHoldRow(
                id=_new_id(),
                call_id=call_id,
                subject_id=who,
                reason=why,
                created_by=actor or self.config.actor,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                "hold.add",
                "hold",
                row.id,
                actor=actor,
                purpose=why,
                details={"call_id": call_id, "target": "call" if call_id else "subject"},
            )
            return HoldRecord.of(row)

    def release_hold(self, hold_id: str, *, reason: str, actor: str | None = None) -> HoldRecord:
        """Release a hold; what it held may be erased again (the row stays, as history)."""
        why = _reason(reason, "the reason")
        with self._write() as session:
            row = session.get(LegalHoldRow, hold_id)
            if row is None:
                raise _no_such_hold(hold_id)
            if row.released_at is not None:
                raise InputError(
                    f"hold {hold_id} was already released at {row.released_at.isoformat()}"
                )
            row.released_at = _now()
            row.released_by = actor or self.config.actor
            row.release_reason = why
            self._record(
                session,
                "hold.release",
                "hold",
                hold_id,
                actor=actor,
                purpose=why,
                details={"call_id": row.call_id},
            )
            return HoldRecord.of(row)

    def holds(self, *, active_only: bool = True, actor: str | None = None) -> list[HoldRecord]:
        """Holds, oldest first; the listing is audited (subjects are personal data)."""
        with self._write() as session:
            query = select(LegalHoldRow).order_by(LegalHoldRow.created_at, LegalHoldRow.id)
            if active_only:
                query = query.where(LegalHoldRow.released_at.is_(None))
            records = [HoldRecord.of(row) for row in session.scalars(query)]
            self._record(
                session,
                "hold.list",
                "hold",
                None,
                actor=actor,
                details={"count": len(records), "active_only": active_only},
            )
        return records

    def holds_for_call(self, call_id: str, *, actor: str | None = None) -> list[HoldRecord]:
        """The active holds that keep a call from being erased, oldest first (audited)."""
        with self._write() as session:
            self._call_row(session, call_id)
            ids = active_holds(session, [call_id]).get(call_id, [])
            records = [HoldRecord.of(row) for row in _rows(session, ids)]
            self._record(
                session,
                "hold.list",
                "call",
                call_id,
                actor=actor,
                details={"count": len(records), "active_only": True},
            )
        return records

    def is_held(self, call_id: str) -> bool:
        """Whether an active legal hold covers the call (not audited: a yes or no)."""
        with self._read() as session:
            self._call_row(session, call_id)
            return bool(active_holds(session, [call_id]).get(call_id))

    def check_erasable(self, call_id: str, *, expired_by: datetime | None = None) -> None:
        """Raise NotFound or ErasureRefused unless the call may be erased now (not audited:
        ids only). `Vault.delete_call` checks again inside its own transaction."""
        with self._read() as session:
            call = self._call_row(session, call_id)
            refuse_if_held(session, call_id, call_subjects(session, call_id))
            restriction_id = self._restricted(session, [call_id]).get(call_id)
            if restriction_id is not None:
                raise ErasureRefused(
                    f"call {call_id} is restricted by restriction {restriction_id} (GDPR art. "
                    "18): it is kept, not erased, until the restriction is lifted (`callvault "
                    f"rights lift {restriction_id} --reason ...`)",
                    call_id=call_id,
                )
            if expired_by is not None:
                refuse_unless_expired(call, expired_by)

    # -- data subjects -----------------------------------------------------------------

    def subject_calls(
        self, subject: str, *, actor: str | None = None, purpose: str | None = None
    ) -> list[SubjectCall]:
        """The calls in which a participant's number equals `subject` (E.164, normalised
        when it starts with +) or whose name equals it (case-insensitive), oldest first.

        Audited as `rights.find` with call ids and a count only: the subject is personal
        data and the chain cannot be edited.
        """
        who = _subject(subject, "the subject")
        with self._write() as session:
            match = subject_match(who)
            rows = session.execute(
                select(ParticipantRow.call_id, ParticipantRow.role, CallRow.started_at)
                .join(CallRow, CallRow.id == ParticipantRow.call_id)
                .where(match)
                .order_by(CallRow.created_at, CallRow.id, ParticipantRow.position)
            ).all()
            first: dict[str, tuple[str, datetime | None]] = {}
            for call_id, role, started_at in rows:
                first.setdefault(call_id, (role, started_at))
            counts: dict[str, int] = {}
            if first:
                for call_id, n in session.execute(
                    select(ParticipantRow.call_id, func.count())
                    .where(ParticipantRow.call_id.in_(list(first)))
                    .group_by(ParticipantRow.call_id)
                ):
                    counts[call_id] = int(n)
            calls = [
                SubjectCall(call_id, started_at, role, counts.get(call_id, 1) - 1)
                for call_id, (role, started_at) in first.items()
            ]
            self._record(
                session,
                "rights.find",
                "subject",
                None,
                actor=actor,
                purpose=purpose,
                details={"count": len(calls), "calls": [c.call_id for c in calls]},
            )
        return calls

    def erasure_blocks(self, call_ids: Iterable[str], now: datetime) -> list[ErasureBlock]:
        """What keeps each of `call_ids` from being erased on request at `now`: every
        active legal hold, an active restriction of processing, and a duty retention class
        (see DUTY_CLASS_PREFIXES) whose `retain_until` is later or unset. Not audited: ids,
        reasons and dates only."""
        moment = _aware(now, "now")
        wanted = list(call_ids)
        blocks: list[ErasureBlock] = []
        with self._read() as session:
            held = active_holds(session, wanted) if wanted else {}
            restricted = self._restricted(session, wanted)
            for call_id in wanted:
                for hold in _rows(session, held.get(call_id, [])):
                    blocks.append(ErasureBlock(call_id, "legal-hold", hold.id, hold.reason))
                if call_id in restricted:
                    restriction = session.get(RestrictionRow, restricted[call_id])
                    blocks.append(
                        ErasureBlock(
                            call_id,
                            "restriction",
                            reason=restriction.reason if restriction is not None else None,
                            restriction_id=restricted[call_id],
                        )
                    )
                call = self._call_row(session, call_id)
                duty = call.retention_class.startswith(DUTY_CLASS_PREFIXES)
                if duty and (call.retain_until is None or call.retain_until > moment):
                    blocks.append(
                        ErasureBlock(
                            call_id,
                            "retention-duty",
                            retention_class=call.retention_class,
                            retain_until=call.retain_until,
                        )
                    )
        return blocks

    def audit_entries_about(self, object_ids: Iterable[str]) -> list[AuditEntry]:
        """Audit entries whose object is one of `object_ids`, oldest first (not audited)."""
        entries: list[AuditEntry] = []
        with self._read() as session:
            for object_id in sorted(set(object_ids)):
                entries.extend(iter_entries(session, object_id=object_id))
        return sorted(entries, key=lambda e: e.seq)

    # -- retention ---------------------------------------------------------------------

    def set_retention(
        self,
        call_id: str,
        retention_class: str,
        retain_until: datetime | None,
        *,
        actor: str | None = None,
    ) -> RetentionInfo:
        """Assign a call's retention class and the time after which it is erased
        (None: no expiry; `retention run` never erases such a call)."""
        _check_retention_class(retention_class)  # before the lookup: the input is wrong
        with self._write() as session:
            return self._set_retention(
                session, self._call_row(session, call_id), retention_class, retain_until, actor
            )

    def _set_retention(
        self,
        session: Session,
        call: CallRow,
        retention_class: str,
        retain_until: datetime | None,
        actor: str | None,
    ) -> RetentionInfo:
        _check_retention_class(retention_class)
        until = _aware(retain_until, "retain until") if retain_until is not None else None
        before = RetentionInfo(call.id, call.retention_class, call.retain_until)
        call.retention_class, call.retain_until = retention_class, until
        self._record(
            session,
            "retention.set",
            "call",
            call.id,
            actor=actor,
            details={
                "retention_class": retention_class,
                "retain_until": _iso(until),
                "previous": before.to_json(),
            },
        )
        return RetentionInfo(call.id, retention_class, until)

    def retention_of(self, call_id: str) -> RetentionInfo:
        """A call's retention class and date (not audited: no personal data)."""
        with self._read() as session:
            call = self._call_row(session, call_id)
            return RetentionInfo(call.id, call.retention_class, call.retain_until)

    def expired_calls(self, now: datetime, *, include_held: bool = False) -> list[ExpiredCall]:
        """Calls whose `retain_until` is at or before `now`, earliest first; held calls,
        and calls under a restriction of processing, only with `include_held` (not
        audited: ids and dates only). A call without a `retain_until` never expires."""
        moment = _aware(now, "now")
        with self._read() as session:
            rows = session.execute(
                select(CallRow.id, CallRow.retention_class, CallRow.retain_until)
                .where(CallRow.retain_until.is_not(None), CallRow.retain_until <= moment)
                .order_by(CallRow.retain_until, CallRow.id)
            ).all()
            held = active_holds(session, [r[0] for r in rows]) if rows else {}
            restricted = self._restricted(session, [r[0] for r in rows])
        expired = [
            ExpiredCall(call_id, cls, until, tuple(held.get(call_id, ())), restricted.get(call_id))
            for call_id, cls, until in rows
            if until is not None  # the query's condition; this tells the type checker
        ]
        return [e for e in expired if include_held or not (e.hold_ids or e.restriction_id)]

    # -- consent -----------------------------------------------------------------------

    def record_consent(
        self,
        participant: str,
        *,
        method: str,
        scopes: Iterable[str],
        call_id: str | None = None,
        given_at: datetime | None = None,
        note: str | None = None,
        actor: str | None = None,
    ) -> ConsentRecord:
        """Record a participant's consent, for one call or (without `call_id`) standing:
        a standing consent covers the participant's calls from `given_at` until it is
        withdrawn, and the ingest gate looks it up.

        The record outlives the call: erasing the call sets its `call_id` to null, and the
        record stays as proof that the recording was lawful. A quarantined call whose
        parties have now all consented to recording leaves quarantine in the same
        transaction (`consent_state` becomes "given", audited as `call.release`).
        """
        with self._write() as session:
            if call_id is not None:
                self._call_row(session, call_id)
            record = self._add_consent(
                session, participant, method, scopes, call_id, given_at, note, actor
            )
            if call_id is not None:
                self._release_if_consented(session, self._call_row(session, call_id), actor)
            return record

    def _add_consent(
        self,
        session: Session,
        participant: str,
        method: str,
        scopes: Iterable[str],
        call_id: str | None,
        given_at: datetime | None,
        note: str | None,
        actor: str | None,
    ) -> ConsentRecord:
        who = _subject(participant, "the participant")
        if method not in CONSENT_METHODS:
            raise InputError(
                f"consent method {method!r} is unknown; use one of {', '.join(CONSENT_METHODS)}"
            )
        chosen = set(scopes)
        unknown = sorted(chosen - set(CONSENT_SCOPES))
        if unknown or not chosen:
            what = f"consent scope {unknown[0]!r} is unknown" if unknown else "no consent scope"
            raise InputError(f"{what}; use one or more of {', '.join(CONSENT_SCOPES)}")
        when = _aware(given_at, "given at") if given_at is not None else _now()
        row = ConsentRow(
            id=_new_id(),
            call_id=call_id,
            participant=who,
            method=method,
            scopes=",".join(sorted(chosen)),
            given_at=when,
            recorded_by=actor or self.config.actor,
            note=note or None,
            standing=call_id is None,
        )
        session.add(row)
        session.flush()
        self._record(
            session,
            "consent.record",
            "consent",
            row.id,
            actor=actor,
            details={
                "call_id": call_id,
                "standing": call_id is None,
                "method": method,
                "scopes": sorted(chosen),
                "given_at": _iso(when),
            },
        )
        return ConsentRecord.of(row)

    # -- admission and quarantine ------------------------------------------------------

    def _admit(
        self, session: Session, call: CallRow, admission: Admission, actor: str | None
    ) -> None:
        """Carry out the gate's decision for a call being stored (in its transaction)."""
        self._record(
            session, "policy.decision", "call", call.id, actor=actor, details=admission.decision
        )
        self._set_retention(session, call, admission.retention_class, admission.retain_until, actor)
        for grant in admission.consents:
            self._add_consent(
                session,
                grant.participant,
                grant.method,
                grant.scopes,
                call.id,
                grant.given_at,
                grant.note,
                actor,
            )
        call.consent_state = admission.consent_state
        call.quarantine_until = admission.quarantine_until
        if admission.consent_state == "quarantined":
            self._record(
                session,
                "call.quarantine",
                "call",
                call.id,
                actor=actor,
                details={"until": _iso(admission.quarantine_until)},
            )

    def standing_consents(
        self, identifiers: Iterable[str], at: datetime
    ) -> dict[str, ConsentRecord]:
        """The standing consent to recording in force at `at` of each identifier (an
        E.164 number or a name, compared case-insensitively) that has one: the ingest
        gate's lookup. Not audited: the ingest that uses it records what it relied on."""
        moment = _aware(at, "at")
        wanted = {i.lower(): i for i in identifiers if i}
        if not wanted:
            return {}
        with self._read() as session:
            rows = session.scalars(
                select(ConsentRow)
                .where(
                    ConsentRow.standing.is_(True),
                    func.lower(ConsentRow.participant).in_(list(wanted)),
                    ConsentRow.given_at <= moment,
                    or_(ConsentRow.withdrawn_at.is_(None), ConsentRow.withdrawn_at > moment),
                )
                .order_by(ConsentRow.given_at.desc(), ConsentRow.id)
            ).all()
        found: dict[str, ConsentRecord] = {}
        for row in rows:
            if "record" in row.scopes.split(","):
                found.setdefault(wanted[row.participant.lower()], ConsentRecord.of(row))
        return found

    def _every_party_consented(self, session: Session, call_id: str, scope: str) -> bool:
        """Whether every participant of the call has an active consent for this call
        with `scope` (matched by number, name or role). A party whose leg was erased
        (`erased_parties`) is not asked: what is left of the call is theirs no more, so
        it goes on with the consent of the parties that remain (issue 17)."""
        session.flush()
        consented = {
            row.participant.lower()
            for row in session.scalars(
                select(ConsentRow).where(
                    ConsentRow.call_id == call_id, ConsentRow.withdrawn_at.is_(None)
                )
            )
            if scope in row.scopes.split(",")
        }
        erased = erased_parties(session, self._call_row(session, call_id))
        parties = [
            p
            for p in session.scalars(
                select(ParticipantRow).where(ParticipantRow.call_id == call_id)
            )
            if p.id not in erased
        ]
        return bool(parties) and all(
            any(i and i.lower() in consented for i in (p.phone, p.name, p.role)) for p in parties
        )

    def _release_if_consented(self, session: Session, call: CallRow, actor: str | None) -> bool:
        """Take a quarantined call out of quarantine once every party has consented."""
        if call.consent_state != "quarantined":
            return False
        if not self._every_party_consented(session, call.id, "record"):
            return False
        call.consent_state, call.quarantine_until = "given", None
        self._record(
            session, "call.release", "call", call.id, actor=actor, details={"consent": "given"}
        )
        return True

    def analysis_consented(self, call_id: str) -> bool:
        """Whether the call may be transcribed and analysed: always where its parties'
        law needs no consent of each ("not-needed"); where it does, only once every
        party consented to the `analyse` scope (not audited: a yes or no)."""
        with self._read() as session:
            call = self._call_row(session, call_id)
            if call.consent_state == "not-needed":
                return True
            if call.consent_state == "quarantined":
                return False
            return self._every_party_consented(session, call_id, "analyse")

    def refuse_unless_analysis_consented(self, call_id: str) -> None:
        """Raise ConsentRequired while a party's consent to analysis is missing."""
        if not self.analysis_consented(call_id):
            raise ConsentRequired(
                f"call {call_id}: not every party consented to analysis (transcription); "
                f"record it with callvault consent add --call {call_id} --participant ... "
                "--scope analyse; the call is kept, not processed"
            )

    def refuse_if_quarantined(self, call_id: str) -> None:
        """Raise Quarantined while the call waits for its parties' consent."""
        if self.consent_state(call_id) == "quarantined":
            raise Quarantined(
                f"call {call_id} is in quarantine until every party's consent to recording "
                f"is recorded (callvault consent add --call {call_id} ...); it is not "
                "processed before"
            )

    def consent_state(self, call_id: str) -> str:
        """A call's consent state (CONSENT_STATES; not audited: no personal data)."""
        with self._read() as session:
            return self._call_row(session, call_id).consent_state

    def quarantined_calls(self, *, ended_by: datetime | None = None) -> list[QuarantinedCall]:
        """Quarantined calls, earliest deadline first; with `ended_by`, only those whose
        quarantine ended at or before it (not audited: ids and dates only)."""
        with self._read() as session:
            query = (
                select(CallRow.id, CallRow.quarantine_until)
                .where(CallRow.consent_state == "quarantined")
                .order_by(CallRow.quarantine_until, CallRow.id)
            )
            if ended_by is not None:
                query = query.where(CallRow.quarantine_until <= _aware(ended_by, "ended by"))
            rows = session.execute(query).all()
            held = active_holds(session, [r[0] for r in rows]) if rows else {}
        return [
            QuarantinedCall(call_id, until, tuple(held.get(call_id, ())))
            for call_id, until in rows
            if until is not None
        ]

    def withdraw_consent(
        self, consent_id: str, *, at: datetime | None = None, actor: str | None = None
    ) -> ConsentRecord:
        """Mark a consent withdrawn (the record stays: it covered what came before)."""
        when = _aware(at, "withdrawn at") if at is not None else _now()
        with self._write() as session:
            row = session.get(ConsentRow, consent_id)
            if row is None:
                raise _no_such_consent(consent_id)
            if row.withdrawn_at is not None:
                raise InputError(
                    f"consent {consent_id} was already withdrawn at {row.withdrawn_at.isoformat()}"
                )
            if when < row.given_at:
                raise InputError(
                    f"consent {consent_id} was given at {row.given_at.isoformat()}; it cannot "
                    f"be withdrawn earlier, at {when.isoformat()}"
                )
            row.withdrawn_at = when
            self._record(
                session,
                "consent.withdraw",
                "consent",
                consent_id,
                actor=actor,
                details={"call_id": row.call_id, "withdrawn_at": _iso(when)},
            )
            return ConsentRecord.of(row)

    def consents(
        self,
        *,
        call_id: str | None = None,
        participant: str | None = None,
        actor: str | None = None,
    ) -> list[ConsentRecord]:
        """Consent records, oldest first, of one call and/or one participant (audited)."""
        who = _subject(participant, "the participant") if participant is not None else None
        with self._write() as session:
            query = select(ConsentRow).order_by(ConsentRow.given_at, ConsentRow.id)
            if call_id is not None:
                query = query.where(ConsentRow.call_id == call_id)
            if who is not None:
                query = query.where(ConsentRow.participant == who)
            records = [ConsentRecord.of(row) for row in session.scalars(query)]
            self._record(
                session,
                "consent.list",
                "consent",
                None,
                actor=actor,
                details={"count": len(records), "call_id": call_id},
            )
        return records


def _rows(session: Session, ids: list[str]) -> Iterator[LegalHoldRow]:
    for hold_id in ids:
        row = session.get(LegalHoldRow, hold_id)
        if row is not None:
            yield row
