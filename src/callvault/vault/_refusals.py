"""Spoken refusals to be recorded found in processed calls, and the quarantined audio.

`vault.refusals` (a `RefusalRepository`) keeps one row per detection (`RefusalRow`,
migration 0018): where in the call it was said, how sure the detector was, which phrase
it matched, what the policy decided and what was done, and its review. Nothing in a
clear column is personal data: the words are sealed (AES-GCM) under the detection's own
data key, wrapped by the key ring like a recording's and re-wrapped by `rotate_keys`.

The quarantine: before a refusal cuts or silences a recording, the recording as stored
is sealed again, whole, under the detection's key (`{id}/quarantine` as associated
data) into a blob of its own. No read path of the app opens it: it is not playable and
not indexed; only `open_quarantine`, used by the reversal of the detection, decrypts it
(audited). `shred_quarantine` crypto-shreds it: the wrapped key is overwritten with
nothing (the words go with it) and the blob is deleted after the commit. The row goes
with its call (ON DELETE CASCADE), the wrapped key with it; a blob left behind by that
is keyless and `collect_garbage` removes it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.errors import InputError, IntegrityError, NotFound
from callvault.vault import _governance, _ledger
from callvault.vault._crypto import BlobReader, new_data_key, unwrap_data_key, wrap_data_key
from callvault.vault._models import REFUSAL_STATUSES, ConsentRow, RefusalRow
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = ["REFUSAL_STATUSES", "RefusalRecord", "RefusalRepository", "refusal_key_object"]

_NONCE = 12


def _now() -> datetime:
    return datetime.now(UTC)


def refusal_key_object(detection_id: str) -> str:
    """What a detection's wrapped data key is bound to (never a recording id)."""
    return f"refusal:{detection_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class RefusalRecord:
    """A detection without its words: ids, times, confidence, phrase id, decision,
    outcome ("cut", "erased" or None), status (REFUSAL_STATUSES) and its review."""

    id: str
    call_id: str
    recording_id: str
    channel: int | None
    position: int | None
    start: float
    end: float
    confidence: float
    phrase: str
    language: str | None
    decision: str
    outcome: str | None
    status: str
    quarantined: bool
    quarantine_until: datetime | None
    consent_ids: tuple[str, ...]
    detected_at: datetime
    applied_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    shredded_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "channel": self.channel,
            "position": self.position,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "confidence": round(self.confidence, 3),
            "phrase": self.phrase,
            "language": self.language,
            "decision": self.decision,
            "outcome": self.outcome,
            "status": self.status,
            "quarantined": self.quarantined,
            "quarantine_until": _iso(self.quarantine_until),
            "consent_ids": list(self.consent_ids),
            "detected_at": _iso(self.detected_at),
            "applied_at": _iso(self.applied_at),
            "reviewed_by": self.reviewed_by,
            "reviewed_at": _iso(self.reviewed_at),
            "review_reason": self.review_reason,
            "shredded_at": _iso(self.shredded_at),
        }


def _record_of(row: RefusalRow) -> RefusalRecord:
    return RefusalRecord(
        id=row.id,
        call_id=row.call_id,
        recording_id=row.recording_id,
        channel=row.channel,
        position=row.position,
        start=row.start_s,
        end=row.end_s,
        confidence=row.confidence,
        phrase=row.phrase,
        language=row.language,
        decision=row.decision,
        outcome=row.outcome,
        status=row.status,
        quarantined=row.quarantine_key is not None and row.wrapped is not None,
        quarantine_until=row.quarantine_until,
        consent_ids=tuple(json.loads(row.consent_ids or "[]")),
        detected_at=row.detected_at,
        applied_at=row.applied_at,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        review_reason=row.review_reason,
        shredded_at=row.shredded_at,
    )


def _words_aad(detection_id: str) -> bytes:
    return f"{detection_id}/words".encode()


def quarantine_object(detection_id: str) -> str:
    return f"{detection_id}/quarantine"


class RefusalRepository(Repository):
    """Detections of spoken refusals and their quarantined audio (`vault.refusals`)."""

    def record_detection(
        self,
        call_id: str,
        *,
        channel: int | None,
        position: int | None,
        start: float,
        end: float,
        confidence: float,
        phrase: str,
        language: str | None,
        words: str,
        decision: str,
        status: str,
        outcome: str | None = None,
        actor: str | None = None,
    ) -> RefusalRecord:
        """Store a detection under a new data key of its own, its words sealed.

        Audited as `refusal.detect` (ids, channel, times, confidence, phrase id,
        decision; never the words)."""
        if status not in REFUSAL_STATUSES:
            raise InputError(f"unknown refusal status {status!r}; one of {REFUSAL_STATUSES}")
        detection_id = _governance._new_id()
        dek = new_data_key()
        nonce = os.urandom(_NONCE)
        sealed_words = nonce + AESGCM(dek).encrypt(nonce, words.encode(), _words_aad(detection_id))
        now = _now()
        with self.vault.transaction(actor=actor) as tx:
            session = tx.session
            recording = self._recording_row(session, call_id)
            kek_id = self.keyring.current_id()
            row = RefusalRow(
                id=detection_id,
                call_id=call_id,
                recording_id=recording.id,
                channel=channel,
                position=position,
                start_s=float(start),
                end_s=float(end),
                confidence=float(confidence),
                phrase=phrase[:64],
                language=language,
                decision=decision,
                outcome=outcome,
                status=status,
                kek_id=kek_id,
                wrapped=wrap_data_key(
                    self.keyring.key(kek_id), kek_id, refusal_key_object(detection_id), dek
                ),
                words=sealed_words,
                detected_at=now,
            )
            session.add(row)
            tx.audit(
                "refusal.detect",
                "call",
                call_id,
                details={
                    "detection_id": detection_id,
                    "channel": channel,
                    "start_s": round(start, 3),
                    "end_s": round(end, 3),
                    "confidence": round(confidence, 3),
                    "phrase": row.phrase,
                    "decision": decision,
                    "status": status,
                },
            )
            session.flush()
            return _record_of(row)

    def quarantine(
        self, detection_id: str, *, days: int, actor: str | None = None
    ) -> RefusalRecord:
        """Seal the call's recording as stored now under the detection's key, kept for
        `days` from now; the read is audited (`recording.read`, for the quarantine),
        the quarantine as `refusal.quarantine`. A quarantine kept already is replaced."""
        with self._read() as session:
            row = self._row(session, detection_id)
            call_id = row.call_id
            dek = self._unwrap(row)
        key = f"{detection_id}.q{secrets.token_hex(4)}"
        with self.vault.calls.open_recording(
            call_id, actor=actor, purpose="quarantine of a spoken refusal"
        ) as reader:
            write, sealed = self._seal(key, dek, quarantine_object(detection_id), reader.as_file())
        try:
            with self.vault.transaction(actor=actor) as tx:
                tx.stage(key, write)
                session = tx.session
                recording = self._recording_row(session, call_id)
                row = self._row(session, detection_id, lock=True)
                if row.quarantine_key is not None:
                    tx.delete_after_commit(row.quarantine_key)
                now = _now()
                row.quarantine_key = key
                row.quarantine_sha256 = sealed.sha256
                row.quarantine_size = sealed.size
                row.quarantine_ciphertext_size = sealed.ciphertext_size
                row.quarantine_meta = json.dumps(
                    {
                        "container": recording.container,
                        "codec": recording.codec,
                        "sample_rate": recording.sample_rate,
                        "channels": recording.channels,
                        "frames": recording.frames,
                    }
                )
                row.quarantine_until = now + timedelta(days=days)
                tx.audit(
                    "refusal.quarantine",
                    "call",
                    call_id,
                    details={
                        "detection_id": detection_id,
                        "blob": key,
                        "sha256": sealed.sha256,
                        "until": _iso(row.quarantine_until),
                    },
                )
                session.flush()
                return _record_of(row)
        except BaseException:
            write.abort()
            raise

    def get(self, detection_id: str) -> RefusalRecord:
        """A detection without its words (not audited: no personal data)."""
        with self._read() as session:
            return _record_of(self._row(session, detection_id))

    def list_detections(
        self, *, status: str | None = None, call_id: str | None = None
    ) -> list[RefusalRecord]:
        """Detections, newest first (not audited: no personal data)."""
        if status is not None and status not in REFUSAL_STATUSES:
            raise InputError(
                f"unknown refusal status {status!r}; one of {', '.join(REFUSAL_STATUSES)}"
            )
        query = select(RefusalRow).order_by(RefusalRow.detected_at.desc(), RefusalRow.id)
        if status is not None:
            query = query.where(RefusalRow.status == status)
        if call_id is not None:
            query = query.where(RefusalRow.call_id == call_id)
        with self._read() as session:
            return [_record_of(row) for row in session.scalars(query)]

    def read_words(
        self, detection_ids: Sequence[str], *, actor: str | None = None, purpose: str
    ) -> dict[str, str | None]:
        """The words of detections ({id: words}, None once shredded); one audited
        `refusal.words.read` entry (ids only) for the lot."""
        out: dict[str, str | None] = {}
        if not detection_ids:
            return out
        with self._write() as session:
            for detection_id in detection_ids:
                row = self._row(session, detection_id)
                if row.wrapped is None or row.words is None or row.kek_id is None:
                    out[detection_id] = None
                    continue
                dek = self._unwrap(row)
                try:
                    plain = AESGCM(dek).decrypt(
                        row.words[:_NONCE], row.words[_NONCE:], _words_aad(row.id)
                    )
                except InvalidTag:
                    raise IntegrityError(
                        f"refusal detection {row.id}: its sealed words do not authenticate; "
                        "they were changed or damaged"
                    ) from None
                out[detection_id] = plain.decode()
            self._record(
                session,
                "refusal.words.read",
                "refusal",
                None,
                actor=actor,
                purpose=purpose,
                details={"detections": list(detection_ids)},
            )
        return out

    def open_quarantine(
        self, detection_id: str, *, actor: str | None = None, purpose: str
    ) -> tuple[bytes, dict[str, Any]]:
        """The quarantined recording (the file as it was stored) and its format, for
        a reversal only; audited (`refusal.quarantine.read`). NotFound once shredded."""
        with self._write() as session:
            row = self._row(session, detection_id)
            if row.quarantine_key is None or row.wrapped is None:
                raise NotFound(
                    f"refusal detection {detection_id} has no quarantined audio (it was never "
                    "cut, or its quarantine ended and it was destroyed)"
                )
            dek = self._unwrap(row)
            self._record(
                session,
                "refusal.quarantine.read",
                "refusal",
                row.id,
                actor=actor,
                purpose=purpose,
                details={"call_id": row.call_id, "for": "reversal"},
            )
            key, size = row.quarantine_key, int(row.quarantine_ciphertext_size or 0)
            meta = json.loads(row.quarantine_meta or "{}")
        with self.store.open(key) as handle:
            reader = BlobReader(handle, size, dek, quarantine_object(detection_id))
            return b"".join(reader.iter_chunks()), meta

    def mark(
        self,
        detection_id: str,
        *,
        status: str,
        outcome: str | None = None,
        consent_ids: Sequence[str] | None = None,
        reviewer: str | None = None,
        review_reason: str | None = None,
        tx: Transaction | None = None,
    ) -> RefusalRecord:
        """Set a detection's status (and what was done, which consents it withdrew, who
        reviewed it and why). Not audited here: the caller's action is."""
        if status not in REFUSAL_STATUSES:
            raise InputError(f"unknown refusal status {status!r}; one of {REFUSAL_STATUSES}")
        with self._writing(tx) as session:
            row = self._row(session, detection_id, lock=True)
            now = _now()
            row.status = status
            if outcome is not None:
                row.outcome = outcome
            if status == "applied":
                row.applied_at = now
            if consent_ids is not None:
                row.consent_ids = json.dumps(list(consent_ids))
            if reviewer is not None:
                row.reviewed_by, row.reviewed_at = reviewer, now
                row.review_reason = (review_reason or "")[:256] or None
            session.flush()
            return _record_of(row)

    def restore_consents(self, detection_id: str, *, tx: Transaction) -> list[str]:
        """Take back the withdrawals the detection recorded: its consents are active
        again (as before the detection); returns their ids."""
        session = tx.session
        row = self._row(session, detection_id)
        ids = json.loads(row.consent_ids or "[]")
        restored: list[str] = []
        for consent_id in ids:
            consent = session.get(ConsentRow, consent_id)
            if consent is not None and consent.withdrawn_at is not None:
                consent.withdrawn_at = None
                restored.append(consent_id)
        return restored

    def due_quarantines(self, now: datetime) -> list[RefusalRecord]:
        """Detections whose quarantined audio is kept past `now` (ids and dates only)."""
        with self._read() as session:
            rows = session.scalars(
                select(RefusalRow)
                .where(
                    RefusalRow.quarantine_key.is_not(None),
                    RefusalRow.quarantine_until <= now,
                )
                .order_by(RefusalRow.quarantine_until, RefusalRow.id)
            )
            return [_record_of(row) for row in rows]

    def shred_quarantine(
        self,
        detection_id: str,
        *,
        reason: str,
        status: str | None = None,
        actor: str | None = None,
        keep_words: bool = False,
        tx: Transaction | None = None,
    ) -> dict[str, Any]:
        """Crypto-shred a detection's quarantined audio: the blob is deleted after the
        commit and, unless `keep_words`, the wrapped key is overwritten (the words go
        with it). Returns the certificate, audited as `refusal.quarantine.shred`."""
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            row = self._row(session, detection_id, lock=True)
            quarantine_key = row.quarantine_key
            certificate = shred_row(row, keep_words=keep_words, status=status)
            if quarantine_key is not None:
                unit.delete_after_commit(quarantine_key)
            # By ids only, into the erasure ledger: a restored older backup shreds it
            # again (issue 21).
            _ledger.defer(
                session,
                self.signer,
                "refusal",
                {
                    "refusal_id": row.id,
                    "call_id": row.call_id,
                    "blobs": _ledger.blob_list(
                        (b["key"], b["sha256"]) for b in certificate["blobs"]
                    ),
                    "key_destroyed": not keep_words,
                },
            )
            unit.audit(
                "refusal.quarantine.shred",
                "call",
                row.call_id,
                details=certificate,
                actor=actor,
                purpose=reason,
            )
            unit.after_commit(self._checkpoint)
        return certificate

    def rewrap(
        self, session: Session, new_key: bytes, new_id: str, *, only: Sequence[str] = ()
    ) -> int:
        """Within `rotate_keys`: re-wrap every detection key under the new KEK (with
        `only`, those wrapped under one of these KEKs)."""
        count = 0
        query = select(RefusalRow).where(RefusalRow.wrapped.is_not(None))
        if only:
            query = query.where(RefusalRow.kek_id.in_(list(only)))
        for row in session.scalars(query):
            dek = self._unwrap(row)
            row.wrapped = wrap_data_key(new_key, new_id, refusal_key_object(row.id), dek)
            row.kek_id = new_id
            count += 1
        return count

    # -- helpers -----------------------------------------------------------------------

    def _unwrap(self, row: RefusalRow) -> bytes:
        if row.wrapped is None or row.kek_id is None:
            raise NotFound(f"refusal detection {row.id}: its key was destroyed")
        return unwrap_data_key(
            self.keyring.key(row.kek_id), row.kek_id, refusal_key_object(row.id), row.wrapped
        )

    @staticmethod
    def _row(session: Session, detection_id: str, *, lock: bool = False) -> RefusalRow:
        query = select(RefusalRow).where(RefusalRow.id == detection_id)
        if lock:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            raise NotFound(
                f"no refusal detection {detection_id}; `callvault refusals list` shows them"
            )
        return row


def shred_row(row: RefusalRow, *, keep_words: bool, status: str | None = None) -> dict[str, Any]:
    """Crypto-shred a detection's row in place (the quarantine's blob is the caller's to
    delete after the commit): its quarantine forgotten and, unless `keep_words`, its
    wrapped key overwritten (the words go with it). Returns the certificate."""
    now = _now()
    certificate: dict[str, Any] = {
        "detection_id": row.id,
        "call_id": row.call_id,
        "recording_id": row.recording_id,
        "erased_at": now.isoformat(),
        "method": "crypto-shredding",
        "kek_id": row.kek_id,
        "blobs": (
            [
                {
                    "key": row.quarantine_key,
                    "sha256": row.quarantine_sha256,
                    "size": row.quarantine_size,
                }
            ]
            if row.quarantine_key is not None
            else []
        ),
        "words": not keep_words and row.words is not None,
    }
    row.quarantine_key = None
    row.quarantine_sha256 = None
    row.quarantine_size = row.quarantine_ciphertext_size = None
    row.quarantine_meta = None
    if not keep_words:
        row.wrapped, row.kek_id, row.words = None, None, None
    row.shredded_at = now
    if status is not None:
        row.status = status
    return certificate
