"""Restrictions of processing (GDPR art. 18) and rectifications with their history
(art. 16): mixed into `Vault`.

A restriction names a data subject, matched as `GovernanceOps.subject_calls` matches one
(a participant's E.164 number, or name in any case). While it is active the subject's
calls are kept, but not processed, not found by search, not erased and not read except
on the grounds art. 18(2) allows (`RESTRICTION_GROUNDS`, given as the first word of the
purpose: "legal-claim: case 42"). Every refused read is audited.

A rectification replaces an utterance's text or a participant's name or number and keeps
what it was, what it became, who and why in a `CorrectionRow`. The old and new values are
encrypted under a key derived from the recording's data key, so erasing the call (its
data key is destroyed) makes its history unreadable with it.

The audit chain gets ids, reasons, indexes and counts: never a subject, a name, a number
or transcript text.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.capture import parse_e164
from callvault.errors import InputError, IntegrityError, NotFound, Quarantined, Restricted
from callvault.vault._governance import _reason, _subject, subject_match
from callvault.vault._models import (
    CallRow,
    CorrectionRow,
    ParticipantRow,
    RecordingRow,
    RestrictionRow,
)
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

if TYPE_CHECKING:
    from callvault.analysis import Utterance

__all__ = [
    "CORRECTION_INFO",
    "PARTICIPANT_FIELDS",
    "RESTRICTION_GROUNDS",
    "CorrectionRecord",
    "RestrictionRecord",
    "CorrectionRepository",
    "RestrictionRepository",
    "UtteranceCorrection",
    "corrected_utterance",
    "restriction_ground",
]

# The grounds on which GDPR art. 18(2) allows processing restricted data besides storing
# it: the establishment, exercise or defence of legal claims; the data subject's consent;
# the protection of another person's rights; an important public interest.
RESTRICTION_GROUNDS = ("legal-claim", "subject-consent", "protect-rights", "public-interest")
# HKDF info of the key that encrypts correction values; the data key itself never is.
CORRECTION_INFO = b"callvault/correction/v1"
PARTICIPANT_FIELDS = ("name", "phone")
MAX_UTTERANCE_CHARS = 10_000
_NONCE = 12
_TAG = 16
_NAME_LIMIT = 256  # participants.name is a VARCHAR(256)


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def restriction_ground(purpose: str | None) -> str | None:
    """The art. 18(2) ground a purpose names as its first word before ':' (or as the
    whole purpose), such as "legal-claim: case 42"; None when it names none."""
    if not purpose:
        return None
    first = purpose.split(":", 1)[0].strip().lower()
    return first if first in RESTRICTION_GROUNDS else None


def _lift_hint(restriction_id: str) -> str:
    return f"`callvault rights lift {restriction_id} --reason ...`"


def restricted_error(call_id: str, restriction_id: str, doing: str) -> Restricted:
    """The refusal of `doing` ("processed", "read", ...) on a restricted call."""
    message = (
        f"call {call_id} is restricted by restriction {restriction_id} (GDPR art. 18); it "
        f"is not {doing} until the restriction is lifted ({_lift_hint(restriction_id)})"
    )
    if doing == "read":
        message += (
            " or unless the purpose names a ground art. 18(2) allows as its first word: "
            f"{', '.join(RESTRICTION_GROUNDS)} (for example --purpose 'legal-claim: case 42')"
        )
    return Restricted(message, call_id=call_id, restriction_id=restriction_id)


def corrected_utterance(utterance: Utterance, text: str) -> Utterance:
    """`utterance` with `text` as its words, spread evenly over its start..end, each with
    confidence 1.0 (a person wrote them). The transcript format has no field to mark the
    utterance corrected; the correction history says which ones are."""
    from callvault.analysis import Word

    words = text.split()
    span = utterance.end - utterance.start
    n = len(words)
    respelled = tuple(
        Word(
            start=utterance.start + span * i / n,
            end=utterance.start + span * (i + 1) / n,
            text=word,
            confidence=1.0,
        )
        for i, word in enumerate(words)
    )
    return replace(utterance, text=text, confidence=1.0, words=respelled)


# -- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RestrictionRecord:
    """A restriction of processing of a data subject's calls; `calls`: the calls it
    covers now (none once lifted)."""

    id: str
    subject: str
    reason: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None
    calls: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    @classmethod
    def of(cls, row: RestrictionRow, calls: Iterable[str] = ()) -> RestrictionRecord:
        return cls(
            row.id,
            row.subject_id,
            row.reason,
            row.created_by,
            row.created_at,
            row.lifted_at,
            row.lifted_by,
            row.lift_reason,
            tuple(calls),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "reason": self.reason,
            "active": self.active,
            "calls": list(self.calls),
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "lifted_at": _iso(self.lifted_at),
            "lifted_by": self.lifted_by,
            "lift_reason": self.lift_reason,
        }


@dataclass(frozen=True)
class CorrectionRecord:
    """One rectification, decrypted. `target` is "utterance" (`key`: its index; `start`
    and `end`: its span, to find it again after re-processing) or "participant" (`key`:
    "POSITION.FIELD"). `old` is None where the field was empty."""

    id: str
    call_id: str
    recording_id: str
    target: str
    key: str
    old: str | None
    new: str
    actor: str
    reason: str
    created_at: datetime
    start: float | None = None
    end: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "target": self.target,
            "key": self.key,
            "start": None if self.start is None else round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3),
            "old": self.old,
            "new": self.new,
            "actor": self.actor,
            "reason": self.reason,
            "created_at": _iso(self.created_at),
        }


# -- correction values: AES-GCM under a key derived from the data key --------------------


@dataclass(frozen=True)
class UtteranceCorrection:
    """What `CorrectionRepository.correct_utterance` did: the correction, and the new
    transcript document (for the search index rows written in the same transaction)."""

    record: CorrectionRecord
    document: bytes


def _correction_cipher(dek: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CORRECTION_INFO).derive(dek)
    return AESGCM(key)


def _aad(correction_id: str, target: str, key: str, field: str) -> bytes:
    # The field ("old"/"new") is bound too, so the two values cannot be swapped unseen.
    return "\x1f".join((correction_id, target, key, field)).encode()


def _seal(cipher: AESGCM, aad: bytes, value: dict[str, Any]) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + cipher.encrypt(nonce, json.dumps(value, ensure_ascii=False).encode(), aad)


def _open(cipher: AESGCM, aad: bytes, sealed: bytes, correction_id: str) -> dict[str, Any]:
    if len(sealed) < _NONCE + _TAG:
        raise IntegrityError(
            f"correction {correction_id}: a stored value has {len(sealed)} bytes, fewer than "
            f"a nonce and a tag ({_NONCE + _TAG}); it was damaged"
        )
    try:
        plain = cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        raise IntegrityError(
            f"correction {correction_id}: a stored value does not authenticate; it was "
            "changed, damaged or moved from another correction"
        ) from None
    value = json.loads(plain)
    if not isinstance(value, dict):
        raise IntegrityError(f"correction {correction_id}: a stored value is malformed")
    return value


def _record_of(row: CorrectionRow, cipher: AESGCM) -> CorrectionRecord:
    old = _open(cipher, _aad(row.id, row.target, row.target_key, "old"), row.old_value, row.id)
    new = _open(cipher, _aad(row.id, row.target, row.target_key, "new"), row.new_value, row.id)
    start, end = new.get("start"), new.get("end")
    return CorrectionRecord(
        id=row.id,
        call_id=row.call_id,
        recording_id=row.recording_id,
        target=row.target,
        key=row.target_key,
        old=old.get("value"),
        new=str(new.get("value")),
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
        start=float(start) if start is not None else None,
        end=float(end) if end is not None else None,
    )


# -- the operations Vault offers ----------------------------------------------------------


class RestrictionRepository(Repository):
    """Restrictions of processing, GDPR art. 18 (`vault.restrictions`): which calls they
    cover, and the refusals they cause."""

    # -- restrictions: which calls they cover ------------------------------------------

    def _restricted(self, session: Session, call_ids: Iterable[str] | None) -> dict[str, str]:
        """The oldest active restriction id covering each of `call_ids` (or every call)
        that one covers. One query per active restriction: they are few."""
        wanted = None if call_ids is None else sorted(set(call_ids))
        if wanted == []:
            return {}
        covered: dict[str, str] = {}
        active = session.scalars(
            select(RestrictionRow)
            .where(RestrictionRow.lifted_at.is_(None))
            .order_by(RestrictionRow.created_at, RestrictionRow.id)
        ).all()
        for restriction in active:
            query = select(ParticipantRow.call_id).where(subject_match(restriction.subject_id))
            if wanted is not None:
                query = query.where(ParticipantRow.call_id.in_(wanted))
            for call_id in session.scalars(query.distinct()):
                covered.setdefault(call_id, restriction.id)
        return covered

    def restricted_calls(self, call_ids: Iterable[str] | None = None) -> dict[str, str]:
        """{call id: id of the oldest active restriction covering it}, for `call_ids` or
        for every call (not audited: ids only)."""
        with self._read() as session:
            return self._restricted(session, call_ids)

    def restriction_for_call(self, call_id: str) -> str | None:
        """The id of the oldest active restriction covering a call, or None (not audited)."""
        return self.restricted_calls([call_id]).get(call_id)

    def refuse_if_restricted(self, call_id: str, *, doing: str = "processed") -> None:
        """Raise Restricted, naming the restriction and how to lift it, while one covers
        the call; NotFound when there is no such call."""
        with self._read() as session:
            self._call_row(session, call_id)
            restriction_id = self._restricted(session, [call_id]).get(call_id)
        if restriction_id is not None:
            raise restricted_error(call_id, restriction_id, doing)

    def _read_refusal(
        self,
        session: Session,
        call_id: str,
        object_type: str,
        object_id: str,
        action: str,
        *,
        actor: str | None,
        purpose: str | None,
    ) -> Restricted | Quarantined | None:
        """Within a read's transaction: the refusal to raise once it has committed, or
        None. A read of a restricted call, or of a call in consent quarantine, passes
        only with a purpose on an art. 18(2) ground (a subject's own access request is
        one); a refused one is audited as `{action}.refused`, so the caller must let the
        transaction commit and raise after."""
        if restriction_ground(purpose) is not None:
            return None
        call = session.get(CallRow, call_id)
        if call is not None and call.consent_state == "quarantined":
            self._record(
                session,
                f"{action}.refused",
                object_type,
                object_id,
                actor=actor,
                purpose=purpose,
                details={"call_id": call_id, "consent_state": "quarantined"},
            )
            return Quarantined(
                f"call {call_id} is in quarantine until every party's consent to recording "
                f"is recorded (callvault consent add --call {call_id} ...); it is not read "
                "before"
            )
        restriction_id = self._restricted(session, [call_id]).get(call_id)
        if restriction_id is None:
            return None
        self._record(
            session,
            f"{action}.refused",
            object_type,
            object_id,
            actor=actor,
            purpose=purpose,
            details={"call_id": call_id, "restriction_id": restriction_id},
        )
        return restricted_error(call_id, restriction_id, "read")

    # -- restrictions: adding, lifting, listing ----------------------------------------

    def restrict(
        self, subject: str, reason: str, *, actor: str | None = None, tx: Transaction | None = None
    ) -> RestrictionRecord:
        """Restrict processing of every call of `subject` (a participant's number or
        name), now and to come, until lifted. Audited as `restriction.add` with the
        restriction's id, the reason and the ids of the calls it covers now."""
        who = _subject(subject, "the subject")
        why = _reason(reason, "the reason")
        with self._writing(tx) as session:
            row = RestrictionRow(
                id=_new_id(),
                subject_id=who,
                reason=why,
                created_by=actor or self.config.actor,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            calls = self._covered_by(session, row)
            self._record(
                session,
                "restriction.add",
                "restriction",
                row.id,
                actor=actor,
                purpose=why,
                details={"restriction_id": row.id, "calls": list(calls)},
            )
            return RestrictionRecord.of(row, calls)

    def lift_restriction(
        self,
        restriction_id: str,
        reason: str,
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> RestrictionRecord:
        """Lift a restriction (the row stays, as history); audited as `restriction.lift`."""
        why = _reason(reason, "the reason")
        with self._writing(tx) as session:
            row = session.get(RestrictionRow, restriction_id)
            if row is None:
                raise NotFound(
                    f"restriction {restriction_id} does not exist; `callvault rights "
                    "restrictions --all` shows the restrictions"
                )
            if row.lifted_at is not None:
                raise InputError(
                    f"restriction {restriction_id} was already lifted at "
                    f"{row.lifted_at.isoformat()}"
                )
            calls = self._covered_by(session, row)
            row.lifted_at = _now()
            row.lifted_by = actor or self.config.actor
            row.lift_reason = why
            self._record(
                session,
                "restriction.lift",
                "restriction",
                restriction_id,
                actor=actor,
                purpose=why,
                details={"restriction_id": restriction_id, "calls": list(calls)},
            )
            return RestrictionRecord.of(row)

    def restrictions(
        self, *, active_only: bool = True, actor: str | None = None
    ) -> list[RestrictionRecord]:
        """Restrictions, oldest first; the listing is audited (subjects are personal data)."""
        with self._write() as session:
            query = select(RestrictionRow).order_by(RestrictionRow.created_at, RestrictionRow.id)
            if active_only:
                query = query.where(RestrictionRow.lifted_at.is_(None))
            records = [
                RestrictionRecord.of(
                    row, self._covered_by(session, row) if not row.lifted_at else ()
                )
                for row in session.scalars(query)
            ]
            self._record(
                session,
                "restriction.list",
                "restriction",
                None,
                actor=actor,
                details={"count": len(records), "active_only": active_only},
            )
        return records

    def _covered_by(self, session: Session, row: RestrictionRow) -> tuple[str, ...]:
        query = select(ParticipantRow.call_id).where(subject_match(row.subject_id)).distinct()
        return tuple(sorted(session.scalars(query)))

    # -- rectification -----------------------------------------------------------------

    def refuse_restricted_within(
        self, session: Session, call_id: str, *, doing: str = "processed"
    ) -> None:
        """`refuse_if_restricted` inside a write transaction (a `within` callback): a
        restriction added while the call was being worked on refuses the whole write."""
        restriction_id = self._restricted(session, [call_id]).get(call_id)
        if restriction_id is not None:
            raise restricted_error(call_id, restriction_id, doing)


class CorrectionRepository(Repository):
    """Rectifications, GDPR art. 16, with their history (`vault.corrections`)."""

    def _correction_row(
        self,
        session: Session,
        recording: RecordingRow,
        target: str,
        key: str,
        old: dict[str, Any],
        new: dict[str, Any],
        reason: str,
        actor: str | None,
    ) -> CorrectionRow:
        cipher = _correction_cipher(self._data_key(session, recording))
        correction_id = _new_id()
        row = CorrectionRow(
            id=correction_id,
            call_id=recording.call_id,
            recording_id=recording.id,
            target=target,
            target_key=key,
            old_value=_seal(cipher, _aad(correction_id, target, key, "old"), old),
            new_value=_seal(cipher, _aad(correction_id, target, key, "new"), new),
            actor=actor or self.config.actor,
            reason=reason,
            created_at=_now(),
        )
        session.add(row)
        session.flush()
        return row

    def correct_utterance(
        self,
        call_id: str,
        utterance_index: int,
        new_text: str,
        reason: str,
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> UtteranceCorrection:
        """Replace the text of utterance `utterance_index` (0-based) of a call's
        transcript, keeping the old and new text encrypted in its history.

        The new transcript, the correction row and its `transcript.correct` audit entry
        (ids, index, reason) commit together; with `tx`, in the caller's unit of work,
        so that the search index rows the caller writes from the new document
        (`UtteranceCorrection.document`) commit with them. Refused on a restricted call,
        and on an erased one (NotFound or KeyDestroyed).
        """
        from callvault.analysis import Transcript

        text = " ".join(new_text.split())
        if not text:
            raise InputError("the new text is empty; give the utterance's corrected words")
        if len(text) > MAX_UTTERANCE_CHARS:
            raise InputError(
                f"the new text has {len(text)} characters; keep it to {MAX_UTTERANCE_CHARS}"
            )
        why = _reason(reason, "the reason")
        restrictions = self.vault.restrictions
        restrictions.refuse_if_restricted(call_id, doing="rectified")
        document = self.vault.transcripts.read_transcript(
            call_id, actor=actor, purpose="rectification"
        )
        if document is None:
            raise InputError(
                f"call {call_id} has no transcript yet; process it first "
                f"(`callvault process {call_id}`)"
            )
        transcript = Transcript.from_json(document)
        count = len(transcript.utterances)
        if not 0 <= utterance_index < count:
            valid = f"0 to {count - 1}" if count else "none: it has no utterances"
            raise InputError(
                f"call {call_id} has no utterance {utterance_index}; its transcript has "
                f"{count} utterance(s) (indexes {valid}, as `callvault show {call_id}` "
                "lists them)"
            )
        before = transcript.utterances[utterance_index]
        if before.text == text:
            raise InputError(
                f"utterance {utterance_index} of call {call_id} already has that text; "
                "nothing to correct"
            )
        after = corrected_utterance(before, text)
        utterances = list(transcript.utterances)
        utterances[utterance_index] = after
        corrected = replace(transcript, utterances=tuple(utterances))
        body = corrected.to_json().encode()
        span = {"start": before.start, "end": before.end}
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            # Again inside the transaction: a restriction added meanwhile refuses it all.
            restrictions.refuse_restricted_within(session, call_id, doing="rectified")
            self.vault.transcripts.store_transcript(
                call_id,
                body,
                status=corrected.status,
                language=corrected.language,
                model_name=corrected.model_name,
                model_version=corrected.model_version,
                utterances=len(corrected.utterances),
                words=sum(len(u.words) for u in corrected.utterances),
                actor=actor,
                tx=unit,
            )
            recording = self._recording_row(session, call_id)
            row = self._correction_row(
                session,
                recording,
                "utterance",
                str(utterance_index),
                {"value": before.text, **span},
                {"value": text, **span},
                why,
                actor,
            )
            self._record(
                session,
                "transcript.correct",
                "recording",
                recording.id,
                actor=actor,
                purpose=why,
                details={
                    "call_id": call_id,
                    "correction_id": row.id,
                    "utterance": utterance_index,
                },
            )
        record = CorrectionRecord(
            id=row.id,
            call_id=call_id,
            recording_id=row.recording_id,
            target="utterance",
            key=str(utterance_index),
            old=before.text,
            new=text,
            actor=row.actor,
            reason=why,
            created_at=row.created_at,
            start=before.start,
            end=before.end,
        )
        return UtteranceCorrection(record, body)

    def correct_participant(
        self,
        call_id: str,
        position: int,
        field: str,
        new_value: str,
        reason: str,
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> CorrectionRecord:
        """Replace a participant's name or phone number (E.164), keeping the old and new
        values encrypted in the call's history; audited as `participant.correct` (ids,
        position, field, reason). Refused on a restricted call."""
        if field not in PARTICIPANT_FIELDS:
            raise InputError(
                f"participant field {field!r} cannot be corrected; use one of "
                f"{', '.join(PARTICIPANT_FIELDS)}"
            )
        if field == "phone":
            value = parse_e164(new_value.strip(), option="the new phone number")
        else:
            value = " ".join(new_value.split())
            if not value:
                raise InputError("the new name is empty; give the participant's correct name")
            if len(value) > _NAME_LIMIT:
                raise InputError(f"the new name has {len(value)} characters; keep it to 256")
        why = _reason(reason, "the reason")
        with self._writing(tx) as session:
            self._call_row(session, call_id)
            self.vault.restrictions.refuse_restricted_within(session, call_id, doing="rectified")
            party = session.scalars(
                select(ParticipantRow).where(
                    ParticipantRow.call_id == call_id, ParticipantRow.position == position
                )
            ).first()
            if party is None:
                count = len(
                    session.scalars(
                        select(ParticipantRow.id).where(ParticipantRow.call_id == call_id)
                    ).all()
                )
                raise InputError(
                    f"call {call_id} has no participant at position {position}; it has "
                    f"{count} (positions 0 to {count - 1}, as `callvault show {call_id}` "
                    "lists them)"
                )
            old = party.phone if field == "phone" else party.name
            if old == value:
                raise InputError(
                    f"participant {position} of call {call_id} already has that {field}; "
                    "nothing to correct"
                )
            recording = self._recording_row(session, call_id)
            key = f"{position}.{field}"
            row = self._correction_row(
                session, recording, "participant", key, {"value": old}, {"value": value}, why, actor
            )
            if field == "phone":
                party.phone = value
            else:
                party.name = value
            self._record(
                session,
                "participant.correct",
                "call",
                call_id,
                actor=actor,
                purpose=why,
                details={
                    "correction_id": row.id,
                    "participant_id": party.id,
                    "position": position,
                    "field": field,
                },
            )
            return CorrectionRecord(
                id=row.id,
                call_id=call_id,
                recording_id=recording.id,
                target="participant",
                key=key,
                old=old,
                new=value,
                actor=row.actor,
                reason=why,
                created_at=row.created_at,
            )

    def correction_ids(self, call_id: str) -> list[str]:
        """The ids of a call's rectifications, oldest first (not audited: ids only)."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(CorrectionRow.id)
                    .where(CorrectionRow.call_id == call_id)
                    .order_by(CorrectionRow.created_at, CorrectionRow.id)
                )
            )

    def corrections(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> list[CorrectionRecord]:
        """A call's rectifications, oldest first, decrypted; the read is audited as
        `correction.read` (refused, and audited as `correction.read.refused`, on a
        restricted call unless `purpose` names an art. 18(2) ground)."""
        refused: Restricted | Quarantined | None = None
        records: list[CorrectionRecord] = []
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self.vault.restrictions._read_refusal(
                session,
                call_id,
                "recording",
                recording.id,
                "correction.read",
                actor=actor,
                purpose=purpose,
            )
            if refused is None:
                rows = session.scalars(
                    select(CorrectionRow)
                    .where(CorrectionRow.call_id == call_id)
                    .order_by(CorrectionRow.created_at, CorrectionRow.id)
                ).all()
                cipher = _correction_cipher(self._data_key(session, recording)) if rows else None
                records = [_record_of(row, cipher) for row in rows if cipher is not None]
                self._record(
                    session,
                    "correction.read",
                    "recording",
                    recording.id,
                    actor=actor,
                    purpose=purpose,
                    details={"call_id": call_id, "count": len(records)},
                )
        if refused is not None:
            raise refused
        return records
