"""Calls and their recordings: storing, reading, verifying and erasing them.

`vault.calls` (a `CallRepository`) holds the call, recording, participant, leg, data key
and manifest rows of each call and the audio blob they point at. Erasing a call destroys
its data key (crypto-shredding), its rows and every blob of it; what else goes with a
call (its queued jobs, its search rows) is the caller's, in the same unit of work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from callvault.capture import CapturedCall
from callvault.errors import ErasureRefused, IntegrityError, NotFound
from callvault.vault import _audit, _callsig, _governance, _ledger
from callvault.vault._artifacts import artifact_object, transcript_object
from callvault.vault._crypto import BlobReader, SealedBlob, new_data_key, wrap_data_key
from callvault.vault._governance import Admission, ErasureCertificate
from callvault.vault._manifest import Manifest
from callvault.vault._models import (
    ArtifactRow,
    CallRow,
    DataKeyRow,
    LegalHoldRow,
    LegRow,
    ManifestRow,
    ParticipantRow,
    RecordingRow,
    TranscriptRow,
)
from callvault.vault._records import (
    CallFilter,
    CallRecord,
    CallSummary,
    LegRecord,
    ParticipantRecord,
    RecordingRecord,
    StoreResult,
    VerifyResult,
    network_json,
)
from callvault.vault._repo import Repository
from callvault.vault._store import BlobWrite
from callvault.vault._unit import Transaction
from callvault.vault._verify import check_blob, check_manifest

__all__ = ["CallRepository", "destroy_calls", "lock_calls", "no_such_call"]

log = logging.getLogger("callvault.vault")


def no_such_call(call_id: str) -> NotFound:
    return NotFound(f"call {call_id} does not exist; `callvault list` shows the calls")


def _new_id() -> str:
    return uuid.uuid4().hex


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`values` in slices short enough for one SQL IN list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)


def _call_conditions(where: CallFilter | None) -> list[Any]:
    conditions: list[Any] = []
    if where is None:
        return conditions
    if where.agents is not None:
        conditions.append(CallRow.agent.in_(list(where.agents)) if where.agents else false())
    if where.direction is not None:
        conditions.append(CallRow.direction == where.direction)
    if where.language is not None:
        conditions.append(CallRow.language == where.language)
    if where.consent_state is not None:
        conditions.append(CallRow.consent_state == where.consent_state)
    if where.since is not None:
        conditions.append(CallRow.started_at >= where.since)
    if where.until is not None:
        conditions.append(CallRow.started_at < where.until)
    return conditions


class CallRepository(Repository):
    """Calls and recordings (`vault.calls`): store, read, verify, erase."""

    def store_call(
        self,
        call: CapturedCall,
        *,
        actor: str | None = None,
        admission: Admission | None = None,
    ) -> StoreResult:
        """Encrypt and store one captured call; the same bytes twice give the same call.

        `admission` (what the policy gate decided) is carried out in the transaction that
        stores a new call; a duplicate keeps what its first ingest was given.
        """
        recording_id, call_id = _new_id(), _new_id()
        dek = new_data_key()
        with call.open_audio() as source:
            write, sealed = self._seal(recording_id, dek, recording_id, source)
        if sealed.size != call.size:
            write.abort()
            raise IntegrityError(
                f"{call.source_name}: the file changed while it was read ({call.size} bytes "
                f"expected, {sealed.size} read); ingest it again"
            )
        try:
            with self.vault.transaction(actor=actor) as tx:
                result = self._commit_call(
                    tx, call, call_id, recording_id, dek, sealed, write, actor, admission
                )
        except DBIntegrityError:
            # Another process stored the same bytes between our check and our commit;
            # the unit of work has taken the ciphertext away again.
            write.abort()
            existing = self._find_by_sha256(sealed.sha256)
            if existing is None:
                raise
            return existing
        except BaseException:
            # Nothing was committed (a decision that could not be carried out, a lost
            # database): the ciphertext, staged or not, has no key and must go too.
            write.abort()
            raise
        if not result.duplicate:
            log.info("stored recording %s of call %s", recording_id, call_id)
            # A duty retention class or a subject hold may cover the new call at once.
            self.vault.holds.protect_calls([call_id])
        return result

    def _find_by_sha256(self, sha256: str) -> StoreResult | None:
        with self._read() as session:
            row = session.scalars(
                select(RecordingRow).where(
                    or_(RecordingRow.sha256 == sha256, RecordingRow.source_sha256 == sha256)
                )
            ).first()
            return StoreResult(row.call_id, row.id, duplicate=True) if row else None

    def _commit_call(
        self,
        tx: Transaction,
        call: CapturedCall,
        call_id: str,
        recording_id: str,
        dek: bytes,
        sealed: SealedBlob,
        write: BlobWrite,
        actor: str | None,
        admission: Admission | None,
    ) -> StoreResult:
        sha256, cipher_sha256, cipher_size = (
            sealed.sha256,
            sealed.ciphertext_sha256,
            sealed.ciphertext_size,
        )
        session = tx.session
        existing = session.scalars(
            select(RecordingRow).where(
                or_(RecordingRow.sha256 == sha256, RecordingRow.source_sha256 == sha256)
            )
        ).first()
        if existing is not None:
            write.abort()
            self._record(
                session,
                "call.ingest",
                "call",
                existing.call_id,
                actor=actor,
                details={"recording_id": existing.id, "duplicate": True},
            )
            return StoreResult(existing.call_id, existing.id, duplicate=True)
        now = _now()
        kek_id = self.keyring.current_id()
        wrapped = wrap_data_key(self.keyring.key(kek_id), kek_id, recording_id, dek)
        meta = call.metadata
        call_row = CallRow(
            id=call_id,
            direction=meta.direction,
            agent=meta.agent,
            started_at=meta.started_at,
            language=meta.language,
            created_at=now,
            source=call.network.source if call.network else "file",
            network=network_json(call.network) if call.network else None,
        )
        session.add(call_row)
        audio = call.audio
        recording = RecordingRow(
            id=recording_id,
            call_id=call_id,
            sha256=sha256,
            size_bytes=sealed.size,
            container=audio.container,
            codec=audio.codec,
            sample_rate=audio.sample_rate,
            channels=audio.channels,
            frames=audio.frames,
            blob_key=recording_id,
            ciphertext_sha256=cipher_sha256,
            ciphertext_size=cipher_size,
            chunk_size=self.config.chunk_size,
            created_at=now,
        )
        session.add(recording)
        session.flush()
        session.add(
            DataKeyRow(recording_id=recording_id, kek_id=kek_id, wrapped=wrapped, created_at=now)
        )
        by_channel: dict[int, str] = {}
        for position, party in enumerate(call.participants):
            participant_id = _new_id()
            session.add(
                ParticipantRow(
                    id=participant_id,
                    call_id=call_id,
                    position=position,
                    role=party.role,
                    phone=party.phone,
                    name=party.name,
                    is_agent=party.is_agent,
                )
            )
            if party.channel is not None:
                by_channel.setdefault(party.channel, participant_id)
        session.flush()
        facts = {leg.channel: leg for leg in call.network.legs} if call.network else {}
        for channel in range(audio.channels):
            leg_facts = facts.get(channel)
            session.add(
                LegRow(
                    id=_new_id(),
                    call_id=call_id,
                    recording_id=recording_id,
                    channel=channel,
                    participant_id=by_channel.get(channel),
                    codec=leg_facts.codec if leg_facts else None,
                    quality=(
                        json.dumps(leg_facts.quality, sort_keys=True)
                        if leg_facts and leg_facts.quality is not None
                        else None
                    ),
                )
            )
        manifest = Manifest.of_recording(
            recording, created_at=now.isoformat(), signing_key=self.signer.key_id
        )
        body = manifest.canonical()
        session.add(
            ManifestRow(
                recording_id=recording_id,
                body=body.decode(),
                signature=self.signer.sign(body),
                key_id=self.signer.key_id,
            )
        )
        self._record(
            session,
            "call.ingest",
            "call",
            call_id,
            actor=actor,
            details={"recording_id": recording_id, "sha256": sha256},
        )
        session.flush()
        if admission is not None:
            self.vault.consent._admit(session, call_row, admission, actor)
        # The ciphertext goes into place before the rows that point at it commit: a
        # crash in between leaves an unreadable orphan (its key was never stored),
        # never a row without its blob.
        tx.stage(recording_id, write)
        return StoreResult(call_id, recording_id, duplicate=False)

    def _call_record(self, session: Session, call: CallRow) -> CallRecord:
        recording = self._recording_row(session, call.id)
        key = session.get(DataKeyRow, recording.id)
        manifest = session.get(ManifestRow, recording.id)
        participants = session.scalars(
            select(ParticipantRow)
            .where(ParticipantRow.call_id == call.id)
            .order_by(ParticipantRow.position)
        ).all()
        legs = session.scalars(
            select(LegRow).where(LegRow.call_id == call.id).order_by(LegRow.channel)
        ).all()
        return CallRecord(
            id=call.id,
            direction=call.direction,
            agent=call.agent,
            started_at=call.started_at,
            language=call.language,
            created_at=call.created_at,
            participants=tuple(
                ParticipantRecord(p.id, p.position, p.role, p.phone, p.name, p.is_agent)
                for p in participants
            ),
            legs=tuple(
                LegRecord(
                    leg.id,
                    leg.channel,
                    leg.participant_id,
                    leg.codec,
                    json.loads(leg.quality) if leg.quality else None,
                )
                for leg in legs
            ),
            recording=RecordingRecord(
                id=recording.id,
                sha256=recording.sha256,
                size_bytes=recording.size_bytes,
                container=recording.container,
                codec=recording.codec,
                sample_rate=recording.sample_rate,
                channels=recording.channels,
                frames=recording.frames,
                ciphertext_sha256=recording.ciphertext_sha256,
                chunk_size=recording.chunk_size,
                kek_id=key.kek_id if key else None,
                signing_key=manifest.key_id if manifest else None,
                created_at=recording.created_at,
            ),
            consent_state=call.consent_state,
            erasure_state=call.erasure_state,
            source=call.source,
            network=json.loads(call.network) if call.network else None,
        )

    def get_call(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> CallRecord:
        """One call with its participants, legs and recording; the read is audited."""
        with self._write() as session:
            call = self._call_row(session, call_id)
            record = self._call_record(session, call)
            self._record(session, "call.show", "call", call_id, actor=actor, purpose=purpose)
        return record

    def call_agent(self, call_id: str) -> str | None:
        """The agent (a username) of a call, for access decisions (not audited: ids only).
        NotFound when there is no such call."""
        with self._read() as session:
            return self._call_row(session, call_id).agent

    def list_calls(
        self,
        where: CallFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[CallSummary]:
        """Calls, newest first, those `where` covers (all without it); audited."""
        with self._write() as session:
            participants = (
                select(ParticipantRow.call_id, func.count().label("n"))
                .group_by(ParticipantRow.call_id)
                .subquery()
            )
            query = (
                select(CallRow, RecordingRow, participants.c.n)
                .join(RecordingRow, RecordingRow.call_id == CallRow.id)
                .outerjoin(participants, participants.c.call_id == CallRow.id)
                .order_by(CallRow.created_at.desc(), CallRow.id)
            )
            query = query.where(*_call_conditions(where))
            if limit is not None:
                query = query.limit(limit)
            if offset:
                query = query.offset(offset)
            summaries = [
                CallSummary(
                    id=call.id,
                    direction=call.direction,
                    agent=call.agent,
                    started_at=call.started_at,
                    language=call.language,
                    created_at=call.created_at,
                    duration_s=rec.frames / rec.sample_rate,
                    channels=rec.channels,
                    participants=int(n or 0),
                    consent_state=call.consent_state,
                    erasure_state=call.erasure_state,
                )
                for call, rec, n in session.execute(query)
            ]
            self._record(
                session,
                "call.list",
                "call",
                None,
                actor=actor,
                purpose=purpose,
                details={"count": len(summaries)},
            )
        return summaries

    def count_calls(self, where: CallFilter | None = None) -> int:
        """How many calls `list_calls(where)` finds with no limit (not audited: a count)."""
        with self._read() as session:
            conditions = _call_conditions(where)
            query = select(func.count()).select_from(CallRow).where(*conditions)
            return int(session.execute(query).scalar_one())

    @contextmanager
    def open_recording(
        self,
        call_id: str,
        *,
        action: str = "recording.read",
        actor: str | None = None,
        purpose: str | None = None,
    ) -> Iterator[BlobReader]:
        """Decrypting random access to a call's original audio; the access is audited first.

        Refused (Restricted, audited as `{action}.refused`) while a restriction of
        processing covers the call, unless `purpose` names an art. 18(2) ground first
        (`RESTRICTION_GROUNDS`, e.g. "legal-claim: case 42").
        """
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self.vault.restrictions._read_refusal(
                session, call_id, "recording", recording.id, action, actor=actor, purpose=purpose
            )
            if refused is None:
                dek = self._data_key(session, recording)
                self._record(
                    session,
                    action,
                    "recording",
                    recording.id,
                    actor=actor,
                    purpose=purpose,
                    details={"call_id": call_id},
                )
            blob_key, size = recording.blob_key, recording.ciphertext_size
        if refused is not None:
            raise refused  # after the commit: the refusal stays in the audit chain
        with self.store.open(blob_key) as handle:
            yield BlobReader(handle, size, dek, recording.id)

    def _verify_one(self, session: Session, recording: RecordingRow) -> VerifyResult:
        rid = recording.id
        faults = check_manifest(session, self.signer, recording)
        faults += check_blob(
            self.store,
            key=recording.blob_key,
            label=f"recording {rid}",
            object_id=rid,
            ciphertext_size=recording.ciphertext_size,
            ciphertext_sha256=recording.ciphertext_sha256,
            data_key=lambda: self._data_key(session, recording),
            plain_sha256=recording.sha256,
            plain_size=recording.size_bytes,
        )
        transcript = session.get(TranscriptRow, rid)
        if transcript is not None:
            faults += check_blob(
                self.store,
                key=transcript.blob_key,
                label=f"transcript of recording {rid}",
                object_id=transcript_object(rid),
                ciphertext_size=transcript.ciphertext_size,
                ciphertext_sha256=transcript.ciphertext_sha256,
                data_key=lambda: self._data_key(session, recording),
            )
        for artifact in session.scalars(select(ArtifactRow).where(ArtifactRow.recording_id == rid)):
            faults += check_blob(
                self.store,
                key=artifact.blob_key,
                label=f"{artifact.kind} of recording {rid}",
                object_id=artifact_object(rid, artifact.kind),
                ciphertext_size=artifact.ciphertext_size,
                ciphertext_sha256=artifact.ciphertext_sha256,
                data_key=lambda: self._data_key(session, recording),
                plain_sha256=artifact.sha256,
                plain_size=artifact.size_bytes,
            )
        return VerifyResult(recording.call_id, rid, tuple(faults))

    def verify(self, call_id: str | None = None, *, actor: str | None = None) -> list[VerifyResult]:
        """Decrypt, re-hash and check the signatures of one call's recording, or of all."""
        with self._write() as session:
            if call_id is not None:
                recordings = [self._recording_row(session, call_id)]
            else:
                recordings = list(session.scalars(select(RecordingRow).order_by(RecordingRow.id)))
            results = [self._verify_one(session, rec) for rec in recordings]
            # Who may read each call (agent, participants, consent, retention, holds,
            # restrictions) is under signature too; its faults go with the call's first
            # recording.
            checked: set[str] = set()
            for n, result in enumerate(results):
                if result.call_id in checked:
                    continue
                checked.add(result.call_id)
                call = self._call_row(session, result.call_id)
                faults = _callsig.check(session, self.signer, call)
                if faults:
                    results[n] = VerifyResult(
                        result.call_id, result.recording_id, (*faults, *result.faults)
                    )
            self._record(
                session,
                "vault.verify",
                "call",
                call_id,
                actor=actor,
                details={"recordings": len(results), "faulty": sum(not r.ok for r in results)},
            )
        return results

    # -- destroying --------------------------------------------------------------------

    def delete_call(
        self,
        call_id: str,
        *,
        reason: str,
        actor: str | None = None,
        expired_by: datetime | None = None,
        tx: Transaction | None = None,
    ) -> ErasureCertificate:
        """Erase a call: destroy its data key (crypto-shredding), rows and ciphertext.

        Refused (ErasureRefused) while a legal hold applies, checked in the same
        transaction. With `expired_by` (retention does this) the call is erased only when
        its `retain_until` is at or before that time, and an erasure certificate is
        appended to the audit chain as `retention.erase`. Consent records of the call are
        kept, with their call id set to null: they prove the recording was lawful.

        With `tx` the erasure joins the caller's unit of work (whatever else goes with
        the call, such as its queued jobs, goes in the same commit); the blobs are
        deleted and the write-ahead log checkpointed once it has committed.
        """
        [certificate] = self.delete_calls(
            [call_id], reason=reason, actor=actor, expired_by=expired_by, tx=tx
        )
        return certificate

    def delete_calls(
        self,
        call_ids: Sequence[str],
        *,
        reason: str,
        actor: str | None = None,
        expired_by: datetime | None = None,
        tx: Transaction | None = None,
    ) -> list[ErasureCertificate]:
        """Erase several calls in one transaction, all or none (a hold on any of them
        refuses the whole request), each with its own `call.erase` entry; the write-ahead
        log is checkpointed once. For a data subject's erasure request."""
        with self._unit(tx, actor=actor) as unit:
            certificates, blob_keys = self._erase_many(
                unit.session, call_ids, reason, actor, expired_by=expired_by
            )
            self._refuse_locked_blobs(certificates)
            for blob_key in blob_keys:
                unit.delete_after_commit(blob_key)
            unit.after_commit(self._checkpoint)
        return certificates

    def _refuse_locked_blobs(self, certificates: Sequence[ErasureCertificate]) -> None:
        """Raise ErasureRefused, before anything is destroyed, when the blob store would
        refuse to delete a blob (S3 object lock): an erasure is never reported done while
        its ciphertext stays. The vault's own holds were checked already; this catches a
        lock set in the store itself (a retention date not yet passed, say)."""
        if not self.store.has_object_lock():
            return
        for certificate in certificates:
            for blob in certificate.blobs:
                block = self.store.deletion_block(blob.key)
                if block is not None:
                    raise ErasureRefused(
                        f"call {certificate.call_id}: blob {blob.key} is kept by {block}; "
                        "nothing was erased. Release the hold (`callvault hold remove`) "
                        "or wait for the retention date, then erase again",
                        call_id=certificate.call_id,
                    )

    def _refuse_any_kept(self, session: Session, call_ids: Sequence[str]) -> None:
        """Raise ErasureRefused for the first of `call_ids` under an active legal hold
        (on the call, or on a subject who is one of its participants) or restriction."""
        held = _governance.active_holds(session, call_ids)
        for call_id in call_ids:
            if call_id in held:
                _governance.refuse_if_held(
                    session, call_id, _governance.call_subjects(session, call_id)
                )
        restricted = self.vault.restrictions._restricted(session, call_ids)
        for call_id in call_ids:
            restriction_id = restricted.get(call_id)
            if restriction_id is not None:
                raise ErasureRefused(
                    f"call {call_id} is restricted by restriction {restriction_id} (GDPR art. "
                    f"18) and is kept until it is lifted (callvault rights lift "
                    f"{restriction_id} --reason ...); nothing was erased",
                    call_id=call_id,
                )

    def _erase_many(
        self,
        session: Session,
        call_ids: Sequence[str],
        reason: str,
        actor: str | None,
        *,
        expired_by: datetime | None = None,
    ) -> tuple[list[ErasureCertificate], list[str]]:
        """Erase calls within `session`, set-based (a few statements for the whole
        batch, so erasing a subject's thousand calls stays fast); returns a certificate
        per call and the blob keys to delete once the transaction has committed.

        Holds and restrictions are checked for all the calls before, and again once the
        audit chain's lock is held: a subject hold added meanwhile has committed (and is
        seen) or will come after this erasure. With `expired_by` every call must be due
        (`refuse_unless_expired`) and gets a `retention.erase` certificate entry.
        """
        ids = list(dict.fromkeys(call_ids))
        self._refuse_any_kept(session, ids)
        # The row locks make a concurrent retention change or hold on these calls wait.
        calls = lock_calls(session, ids)
        for call_id in ids:
            if call_id not in calls:
                raise no_such_call(call_id)
            if expired_by is not None:
                _governance.refuse_unless_expired(calls[call_id], expired_by)
        certificates = destroy_calls(session, [calls[i] for i in ids])
        blob_keys = [b.key for c in certificates for b in c.blobs]
        # What was destroyed, by ids only, into the erasure ledger in this transaction:
        # a restored older backup erases these calls again (issue 21).
        _ledger.defer_calls(session, self.signer, certificates)
        entries = [
            _audit.Entry(
                "call.erase",
                "call",
                c.call_id,
                purpose=reason,
                details={"recordings": list(c.recording_ids), "method": "crypto-shredding"},
            )
            for c in certificates
        ]
        if expired_by is not None:
            entries += [
                _audit.Entry("retention.erase", "call", c.call_id, reason, c.to_json())
                for c in certificates
            ]
        who = actor or self.config.actor
        for entry in entries:
            _audit.defer(session, self.signer, dataclasses.replace(entry, actor=who))
        self._refuse_any_kept(session, ids)
        return certificates, blob_keys


def lock_calls(session: Session, call_ids: Sequence[str]) -> dict[str, CallRow]:
    """The rows of those of `call_ids` that exist, locked until the transaction ends."""
    calls: dict[str, CallRow] = {}
    for chunk in _chunks(call_ids):
        locking = select(CallRow).where(CallRow.id.in_(chunk)).with_for_update()
        for call in session.scalars(locking.execution_options(populate_existing=True)):
            calls[call.id] = call
    return calls


def destroy_calls(session: Session, calls: Sequence[CallRow]) -> list[ErasureCertificate]:
    """Delete `calls` (locked rows) within `session`, set-based (a few statements for
    the whole batch, so erasing a subject's thousand calls stays fast): the data keys
    first, then every row of them. Returns a certificate per call, in order; its blobs
    are the caller's to delete once the transaction has committed. Nothing is checked
    here (holds, restrictions, retention): the callers do that, or, replaying the
    erasure ledger, carry out an erasure that was already decided."""
    ids = [call.id for call in calls]
    recordings: dict[str, list[RecordingRow]] = {call_id: [] for call_id in ids}
    for chunk in _chunks(ids):
        for recording in session.scalars(
            select(RecordingRow).where(RecordingRow.call_id.in_(chunk))
        ):
            recordings[recording.call_id].append(recording)
    rids = [r.id for rows in recordings.values() for r in rows]
    keys: dict[str, str] = {}
    transcripts: dict[str, TranscriptRow] = {}
    artifacts: dict[str, list[ArtifactRow]] = {}
    for chunk in _chunks(rids):
        found = session.execute(
            select(DataKeyRow.recording_id, DataKeyRow.kek_id).where(
                DataKeyRow.recording_id.in_(chunk)
            )
        )
        keys.update((str(rid), str(kek)) for rid, kek in found)
        for transcript in session.scalars(
            select(TranscriptRow).where(TranscriptRow.recording_id.in_(chunk))
        ):
            transcripts[transcript.recording_id] = transcript
        for artifact in session.scalars(
            select(ArtifactRow).where(ArtifactRow.recording_id.in_(chunk))
        ):
            artifacts.setdefault(artifact.recording_id, []).append(artifact)
    now = _now()
    certificates = [
        _governance.erasure_certificate(
            call, recordings[call.id], now, keys, transcripts, artifacts
        )
        for call in calls
    ]
    # Set-based deletes, children first; the data keys go first of all. Consents
    # keep their rows (the foreign key sets call_id to null), corrections go with
    # their recording (ON DELETE CASCADE). Only released holds can be left here.
    for chunk in _chunks(rids):
        for model in (DataKeyRow, ManifestRow, TranscriptRow, ArtifactRow):
            session.execute(delete(model).where(model.recording_id.in_(chunk)))
    for chunk in _chunks(ids):
        session.execute(delete(LegalHoldRow).where(LegalHoldRow.call_id.in_(chunk)))
        for child in (LegRow, RecordingRow, ParticipantRow):
            session.execute(delete(child).where(child.call_id.in_(chunk)))
        session.execute(delete(CallRow).where(CallRow.id.in_(chunk)))
    return certificates
