"""Rewriting a stored recording under a new data key: a leg silenced, or the audio cut.

A rewrite decodes the stored recording to 16-bit PCM, applies an `AudioEdit` (see
`callvault.media._edit`: `SilenceChannels`, `CutAt`) and stores the result as a 16-bit PCM
WAV file under a new data key. The recording keeps its id (legs, jobs and search rows keep
pointing at it); its row, signed manifest and transcript are replaced, the old data key
row is overwritten and the old blobs are deleted: whatever copy of the old ciphertext
survives can no longer be decrypted (crypto-shredding). The audit entry is an erasure
certificate of what was destroyed.

Also here: recording a party's withdrawal (or refusal) of consent during a call, which
`services.withdrawal` turns into a cut or an erasure, and the plan of a leg erasure
(which calls of a data subject can lose just the subject's channel).
"""

from __future__ import annotations

import io
import json
import math
import secrets
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callvault.errors import InputError, IntegrityError, NotFound
from callvault.media import (
    WAV_CODEC,
    WAV_CONTAINER,
    AudioEdit,
    WavSource,
    decode_pcm,
)
from callvault.vault import _governance, _ledger
from callvault.vault._artifacts import (
    INSIGHTS,
    ORIGINAL,
    artifact_object,
    drop_artifact,
    put_artifact,
    transcript_object,
)
from callvault.vault._crypto import BlobReader, SealedBlob, new_data_key, wrap_data_key
from callvault.vault._manifest import Manifest
from callvault.vault._models import (
    ArtifactRow,
    ConsentRow,
    CorrectionRow,
    DataKeyRow,
    LegRow,
    ManifestRow,
    ParticipantRow,
    TranscriptRow,
)
from callvault.vault._repo import Repository
from callvault.vault._rewrite_plan import (
    CallWithdrawal,
    LegPlan,
    RewritePlan,
    RewriteResult,
    TranscriptRewrite,
    key_fingerprint,
)
from callvault.vault._rights import _aad, _correction_cipher, _open, _seal
from callvault.vault._store import BlobWrite
from callvault.vault._unit import Transaction

__all__ = [
    "AudioEdit",
    "CallWithdrawal",
    "LegPlan",
    "RewritePlan",
    "RewriteRepository",
    "RewriteResult",
    "TranscriptRewrite",
    "key_fingerprint",
]


def _now() -> datetime:
    return datetime.now(UTC)


class RewriteRepository(Repository):
    """Rewriting a stored recording (a leg silenced, the audio cut) under a new data key,
    recording a withdrawal during a call, planning a leg erasure (`vault.rewrites`)."""

    def prepare_rewrite(
        self,
        call_id: str,
        edit: AudioEdit,
        *,
        action: str,
        reason: str,
        actor: str | None = None,
        blank_participants: Collection[str] = (),
        erasure_state: str | None = None,
        keep_original: bool = False,
        held_ok: bool = False,
        transcript: bool = False,
        insights: bool = False,
    ) -> RewritePlan:
        """Read a call's audio, apply `edit` and seal the result under a new data key (not
        yet in place): the first half of a rewrite (crypto-shredding the old audio and
        transcript), which `commit_rewrite` completes.

        With `keep_original` the audio as it was before its first rewrite (the kept
        original, or else the current audio) is sealed as the "original" artifact under
        the new key; without it a kept original is destroyed. With `transcript` and
        `insights` the stored documents are read (decrypted, audited) into the plan, for
        the caller to rewrite to match; what is not given back to `commit_rewrite` is
        dropped (it was derived from what the rewrite changes). `held_ok` lets a redaction
        proceed on a held call (it keeps the original). `blank_participants` (ids of this
        call's participants) lose their number and name at the commit (the role stays);
        `erasure_state` is set on the call then, when given.

        Refused (ErasureRefused) while a legal hold applies, checked before anything is
        read and again at the commit. Audited: the reads (`recording.read`,
        `transcript.read`, ..., with the reason as purpose).
        """
        why = _governance._reason(reason, "the reason")
        with self._read() as session:
            self._call_row(session, call_id)
            if not held_ok:
                _governance.refuse_if_held(
                    session, call_id, _governance.call_subjects(session, call_id)
                )
            recording = self._recording_row(session, call_id)
            rid = recording.id
            wanted = set(blank_participants)
            if wanted:
                found = set(
                    session.scalars(
                        select(ParticipantRow.id).where(
                            ParticipantRow.call_id == call_id, ParticipantRow.id.in_(wanted)
                        )
                    )
                )
                if found != wanted:
                    missing = sorted(wanted - found)[0]
                    raise NotFound(f"participant {missing} is not a participant of call {call_id}")
            old_row = session.get(TranscriptRow, rid)
            old_transcript_key = old_row.blob_key if old_row is not None else None
            old_blob_key = recording.blob_key
            old_artifacts = _artifact_keys(session, rid)
            source_meta = {
                "container": recording.container,
                "codec": recording.codec,
                "sample_rate": recording.sample_rate,
                "channels": recording.channels,
                "frames": recording.frames,
            }
        original: bytes | None = None
        if keep_original and ORIGINAL in old_artifacts:
            original, source_meta = self._artifact_for_rewrite(call_id, ORIGINAL, why, actor)
            pcm, rate, frames_before, _ = self._decode_for_rewrite(call_id, rid, why, actor)
        else:
            pcm, rate, frames_before, original = self._decode_for_rewrite(
                call_id, rid, why, actor, keep_plain=keep_original
            )
        edit.validate(pcm.shape[0], pcm.shape[1], rate)
        new_pcm = edit.apply(pcm, rate)
        del pcm
        dek = new_data_key()
        new_key = f"{rid}.r{secrets.token_hex(6)}"
        write, sealed = self._seal(new_key, dek, rid, io.BufferedReader(WavSource(new_pcm, rate)))
        channels, frames = new_pcm.shape
        del new_pcm
        writes: list[tuple[str, BlobWrite]] = [(new_key, write)]
        try:
            kept: tuple[str, SealedBlob, Mapping[str, Any]] | None = None
            if original is not None:
                o_key = f"{rid}.o{secrets.token_hex(6)}"
                o_write, o_sealed = self._seal(
                    o_key, dek, artifact_object(rid, ORIGINAL), io.BytesIO(original)
                )
                writes.append((o_key, o_write))
                kept = (o_key, o_sealed, source_meta)
                del original
            old_insights: tuple[bytes, Mapping[str, Any]] | None = None
            if insights and INSIGHTS in old_artifacts:
                old_insights = self._artifact_for_rewrite(call_id, INSIGHTS, why, actor)
            document: bytes | None = None
            if transcript and old_transcript_key is not None:
                document = self._read_for_rewrite(call_id, why, actor)
        except BaseException:
            for _key, blob_write in writes:
                blob_write.abort()
            raise
        return RewritePlan(
            call_id=call_id,
            recording_id=rid,
            edit=edit,
            action=action,
            reason=why,
            actor=actor,
            dek=dek,
            sealed=sealed,
            blob_key=new_key,
            sample_rate=rate,
            channels=channels,
            frames=frames,
            frames_before=frames_before,
            expected=(old_blob_key, old_transcript_key),
            expected_artifacts=old_artifacts,
            blank_participants=tuple(sorted(wanted)),
            erasure_state=erasure_state,
            held_ok=held_ok,
            original=kept,
            writes=tuple(writes),
            transcript=document,
            insights=old_insights,
        )

    def commit_rewrite(
        self,
        plan: RewritePlan,
        *,
        transcript: TranscriptRewrite | None = None,
        insights: bytes | None = None,
        tx: Transaction | None = None,
    ) -> RewriteResult:
        """Write a prepared rewrite: the call's recording row, manifest and data key are
        replaced (the recording keeps its id), `transcript` and `insights` (the plan's
        documents rewritten by the caller) are stored under the new key, what is not
        given is dropped. With `tx`, in the caller's unit of work (whose search rows then
        commit with it).

        The new blobs are in place before the rows that point at them commit and the old
        ones are deleted after: a failure leaves the old state whole. Audited as the
        plan's action, whose details certify what was destroyed.
        """
        rid = plan.recording_id
        with self._unit(tx, actor=plan.actor) as unit:
            for key, write in plan.writes:
                unit.stage(key, write)
            artifacts: dict[str, tuple[str, SealedBlob, Mapping[str, Any]]] = {}
            if plan.original is not None:
                artifacts[ORIGINAL] = plan.original
            if insights is not None and plan.insights is not None:
                i_key = f"{rid}.i{secrets.token_hex(6)}"
                i_sealed = unit.seal(
                    i_key, plan.dek, artifact_object(rid, INSIGHTS), io.BytesIO(insights)
                )
                artifacts[INSIGHTS] = (i_key, i_sealed, plan.insights[1])
            stored: tuple[TranscriptRewrite, str, SealedBlob] | None = None
            if transcript is not None and plan.transcript is not None:
                t_key = f"{rid}.t{secrets.token_hex(6)}"
                t_sealed = unit.seal(
                    t_key, plan.dek, transcript_object(rid), io.BytesIO(transcript.document)
                )
                stored = (transcript, t_key, t_sealed)
            result, old_keys = self._write_rows(unit.session, plan, stored, artifacts)
            unit.session.flush()
            for key in old_keys:
                unit.delete_after_commit(key)  # a locked one stays, keyless, for `gc`
            unit.after_commit(self._checkpoint)
            if self.store.has_object_lock():  # a held or MiFID call's new blobs are kept too
                unit.after_commit(lambda: self.vault.holds.protect_calls([plan.call_id]))
        return result

    def _decode_for_rewrite(
        self, call_id: str, rid: str, reason: str, actor: str | None, *, keep_plain: bool = False
    ) -> tuple[np.ndarray, int, int, bytes | None]:
        """The recording's samples, rate and length, and with `keep_plain` its plaintext
        (the file as stored) too."""
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            dek = self._data_key(session, recording)
            self._record(
                session,
                "recording.read",
                "recording",
                rid,
                actor=actor,
                purpose=reason,
                details={"call_id": call_id, "for": "rewrite"},
            )
            blob_key, size = recording.blob_key, recording.ciphertext_size
        with self.store.open(blob_key) as handle:
            reader = BlobReader(handle, size, dek, rid)
            plain = b"".join(reader.iter_chunks()) if keep_plain else None
            source = io.BytesIO(plain) if plain is not None else reader.as_file()
            pcm, rate = decode_pcm(source, name=f"recording {rid}")
        return pcm, rate, int(pcm.shape[1]), plain

    def _artifact_for_rewrite(
        self, call_id: str, kind: str, reason: str, actor: str | None
    ) -> tuple[bytes, dict[str, Any]]:
        """An artifact's plaintext and metadata, for re-encryption under a new key; the
        read is audited (`{kind}.read`, for the rewrite)."""
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            row = session.get(ArtifactRow, (recording.id, kind))
            if row is None:
                raise IntegrityError(
                    f"call {call_id} changed while it was being rewritten (its {kind} "
                    "vanished); nothing was changed, run the request again"
                )
            dek = self._data_key(session, recording)
            self._record(
                session,
                f"{kind}.read",
                "recording",
                recording.id,
                actor=actor,
                purpose=reason,
                details={"call_id": call_id, "for": "rewrite"},
            )
            rid, key, size, meta = recording.id, row.blob_key, row.ciphertext_size, row.meta
        with self.store.open(key) as handle:
            reader = BlobReader(handle, size, dek, artifact_object(rid, kind))
            return b"".join(reader.iter_chunks()), json.loads(meta)

    def _read_for_rewrite(self, call_id: str, reason: str, actor: str | None) -> bytes | None:
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            row = session.get(TranscriptRow, recording.id)
            if row is None:
                return None
            dek = self._data_key(session, recording)
            self._record(
                session,
                "transcript.read",
                "recording",
                recording.id,
                actor=actor,
                purpose=reason,
                details={"call_id": call_id, "for": "rewrite"},
            )
            rid, key, size = recording.id, row.blob_key, row.ciphertext_size
        with self.store.open(key) as handle:
            reader = BlobReader(handle, size, dek, transcript_object(rid))
            return b"".join(reader.iter_chunks())

    def _write_rows(
        self,
        session: Session,
        plan: RewritePlan,
        transcript: tuple[TranscriptRewrite, str, SealedBlob] | None,
        artifacts: Mapping[str, tuple[str, SealedBlob, Mapping[str, Any]]],
    ) -> tuple[RewriteResult, list[str]]:
        """The rows of a rewrite, within `session`; returns the result and the old blob
        keys to delete once the transaction has committed."""
        call_id, edit, action, reason, actor = (
            plan.call_id,
            plan.edit,
            plan.action,
            plan.reason,
            plan.actor,
        )
        dek, sealed, blob_key = plan.dek, plan.sealed, plan.blob_key
        sample_rate, channels, frames = plan.sample_rate, plan.channels, plan.frames
        frames_before, held_ok = plan.frames_before, plan.held_ok
        expected, expected_artifacts = plan.expected, plan.expected_artifacts
        blank_participants, erasure_state = plan.blank_participants, plan.erasure_state
        call = self._call_row(session, call_id)
        # The row lock makes a concurrent hold, erasure or rewrite of this call wait.
        session.refresh(call, with_for_update=True)
        subjects = _governance.call_subjects(session, call_id)
        if not held_ok:
            _governance.refuse_if_held(session, call_id, subjects)
        recording = self._recording_row(session, call_id)
        rid = recording.id
        old_transcript = session.get(TranscriptRow, rid)
        current = (recording.blob_key, old_transcript.blob_key if old_transcript else None)
        current_artifacts = _artifact_keys(session, rid)
        if current != expected or current_artifacts != dict(expected_artifacts):
            raise IntegrityError(
                f"call {call_id} changed while it was being rewritten (a new transcript or "
                "another rewrite); nothing was changed, run the request again"
            )
        old_dek = self._data_key(session, recording)
        now = _now()
        key_row = session.get(DataKeyRow, rid)
        certificate = _governance.erasure_certificate(
            call,
            [recording],
            now,
            {rid: key_row.kek_id if key_row is not None else None},
            {rid: old_transcript} if old_transcript is not None else {},
        )
        old_keys = [recording.blob_key]
        # What the ledger entry names: the old ciphertexts' hashes and the old wrapped key's.
        old_hashes: dict[str, str | None] = {b.key: b.ciphertext_sha256 for b in certificate.blobs}
        old_hashes.update(
            (a.blob_key, a.ciphertext_sha256)
            for a in session.scalars(select(ArtifactRow).where(ArtifactRow.recording_id == rid))
        )
        old_wrapped = _ledger.key_hash(key_row.wrapped) if key_row is not None else None
        if recording.source_sha256 is None:
            recording.source_sha256 = recording.sha256
        recording.sha256 = sealed.sha256
        recording.size_bytes = sealed.size
        recording.container, recording.codec = WAV_CONTAINER, WAV_CODEC
        recording.sample_rate, recording.channels, recording.frames = (
            sample_rate,
            channels,
            frames,
        )
        recording.blob_key = blob_key
        recording.ciphertext_sha256 = sealed.ciphertext_sha256
        recording.ciphertext_size = sealed.ciphertext_size
        recording.chunk_size = self.config.chunk_size
        kek_id = self.keyring.current_id()
        key_row = session.get(DataKeyRow, rid)
        if key_row is None:  # _data_key above found it; this tells the type checker
            raise IntegrityError(f"recording {rid}: its data key vanished during a rewrite")
        # Overwriting the wrapped key is what makes every copy of the old ciphertext
        # undecryptable; the checkpoint after commit removes SQLite's copy of the page.
        key_row.kek_id = kek_id
        key_row.wrapped = wrap_data_key(self.keyring.key(kek_id), kek_id, rid, dek)
        key_row.created_at = now
        manifest = Manifest.of_recording(
            recording, created_at=now.isoformat(), signing_key=self.signer.key_id
        )
        body = manifest.canonical()
        manifest_row = session.get(ManifestRow, rid)
        if manifest_row is None:
            manifest_row = ManifestRow(recording_id=rid)
            session.add(manifest_row)
        manifest_row.body = body.decode()
        manifest_row.signature = self.signer.sign(body)
        manifest_row.key_id = self.signer.key_id
        removed = 0
        if old_transcript is not None:
            old_keys.append(old_transcript.blob_key)
            if transcript is None:
                session.delete(old_transcript)
            else:
                rewritten, key, t_sealed = transcript
                old_transcript.status = rewritten.status
                old_transcript.blob_key = key
                old_transcript.ciphertext_sha256 = t_sealed.ciphertext_sha256
                old_transcript.ciphertext_size = t_sealed.ciphertext_size
                old_transcript.utterances = rewritten.utterances
                old_transcript.words = rewritten.words
                old_transcript.created_at = now
                removed = rewritten.removed_utterances
        for kind in sorted(set(current_artifacts) | set(artifacts)):
            if kind in artifacts:
                a_key, a_sealed, a_meta = artifacts[kind]
                stale = put_artifact(session, rid, kind, a_key, a_sealed, a_meta)
            else:
                stale = drop_artifact(session, rid, kind)
            if stale is not None:
                old_keys.append(stale)
        blanked_positions: set[int] = set()
        for participant_id in blank_participants:
            participant = session.get(ParticipantRow, participant_id)
            if participant is not None:
                participant.phone = None
                participant.name = None
                blanked_positions.add(participant.position)
        kept, destroyed = _rekey_corrections(
            session,
            rid,
            old_dek,
            dek,
            transcript[0].unchanged if transcript is not None else {},
            blanked_positions,
            keep_insights=INSIGHTS in artifacts,
        )
        if erasure_state is not None:
            call.erasure_state = erasure_state
        # By ids only, into the erasure ledger: a restored older backup, which holds the
        # audio as it was before, erases the call again (issue 21).
        _ledger.defer(
            session,
            self.signer,
            "rewrite",
            {
                "call_id": call_id,
                "recording_id": rid,
                "blobs": _ledger.blob_list((key, old_hashes.get(key)) for key in old_keys),
                "old_key": old_wrapped,
                "participants": sorted(blank_participants),
            },
        )
        result = RewriteResult(
            call_id=call_id,
            recording_id=rid,
            action=action,
            edit=edit.to_json(),
            sample_rate=sample_rate,
            channels=channels,
            frames_before=frames_before,
            frames=frames,
            sha256=sealed.sha256,
            old_key_fingerprint=key_fingerprint(old_dek),
            new_key_fingerprint=key_fingerprint(dek),
            removed_utterances=removed,
            blanked_participants=tuple(blank_participants),
            corrections_kept=kept,
            corrections_destroyed=destroyed,
            certificate=certificate,
        )
        self._record(
            session,
            action,
            "call",
            call_id,
            actor=actor,
            purpose=reason,
            details={
                **certificate.to_json(),
                "edit": result.edit,
                "old_key_fingerprint": result.old_key_fingerprint,
                "new_key_fingerprint": result.new_key_fingerprint,
                "frames_before": frames_before,
                "frames": frames,
                "removed_utterances": removed,
                "blanked_participants": list(blank_participants),
                "corrections_kept": kept,
                "corrections_destroyed": destroyed,
                "erasure_state": erasure_state,
            },
        )
        # Again, now that the audit chain's lock is held (as `Vault._erase` does).
        if not held_ok:
            _governance.refuse_if_held(session, call_id, subjects)
        return result, old_keys

    # -- withdrawal during a call ------------------------------------------------------

    def record_call_withdrawal(
        self,
        call_id: str,
        participant: int | str,
        at_seconds: float,
        *,
        refused: bool = False,
        reason: str,
        mode: str,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> CallWithdrawal:
        """Record that a party withdrew (or refused) consent `at_seconds` into a call.

        `participant`: the participant's position (0 is the first) or their number or
        name. The party's consent records for this call (naming them by number, name or
        role) are marked withdrawn at the call's start plus `at_seconds` (one withdrawn
        earlier keeps its time). When there are none, no consent record is made up (a
        record says consent was given): the audit entry `consent.withdraw.during-call`
        (ids, offset, mode; never the number or name) is the record. `mode` is what will
        be done with the recording, for that entry. Standing consents are left alone:
        the withdrawal is about this call.
        """
        why = _governance._reason(reason, "the reason")
        if isinstance(at_seconds, bool) or not math.isfinite(at_seconds):
            raise InputError(f"the offset {at_seconds!r} is not a number of seconds")
        with self._writing(tx) as session:
            call = self._call_row(session, call_id)
            party = _find_participant(session, call_id, participant)
            leg = session.scalars(
                select(LegRow).where(LegRow.call_id == call_id, LegRow.participant_id == party.id)
            ).first()
            others = session.scalar(
                select(func.count())
                .select_from(ParticipantRow)
                .where(ParticipantRow.call_id == call_id, ParticipantRow.id != party.id)
            )
            start = call.started_at or call.created_at
            moment = start + timedelta(seconds=max(0.0, at_seconds))
            # A per-call consent names its party by number, name or role (as the consent
            # check of a quarantined call matches them).
            names = [v for v in (party.phone, party.name, party.role) if v is not None]
            consent_ids: list[str] = []
            if names:
                rows = session.scalars(
                    select(ConsentRow)
                    .where(
                        ConsentRow.call_id == call_id,
                        or_(
                            ConsentRow.participant.in_(names),
                            func.lower(ConsentRow.participant).in_([n.lower() for n in names]),
                        ),
                    )
                    .order_by(ConsentRow.given_at, ConsentRow.id)
                ).all()
                for row in rows:
                    if row.withdrawn_at is None:
                        row.withdrawn_at = max(moment, row.given_at)
                        consent_ids.append(row.id)
            self._record(
                session,
                "consent.withdraw.during-call",
                "call",
                call_id,
                actor=actor,
                purpose=why,
                details={
                    "participant_id": party.id,
                    "position": party.position,
                    "channel": leg.channel if leg is not None else None,
                    "at_s": at_seconds,
                    "withdrawn_at": moment.isoformat(),
                    "refused": refused,
                    "mode": mode,
                    "consents": consent_ids,
                },
            )
            return CallWithdrawal(
                call_id=call_id,
                participant_id=party.id,
                position=party.position,
                channel=leg.channel if leg is not None else None,
                at_seconds=at_seconds,
                withdrawn_at=moment,
                refused=refused,
                consent_ids=tuple(consent_ids),
                consent_state=call.consent_state,
                other_participants=int(others or 0),
                sample_rate=self._recording_row(session, call_id).sample_rate,
            )

    # -- erasing one party -------------------------------------------------------------

    def leg_plans(self, subject: str, call_ids: Iterable[str]) -> list[LegPlan]:
        """For each call, the subject's participants, their own channels and the others
        (see `LegPlan`); the subject is matched as `subject_calls` does. Not audited:
        ids and counts only."""
        who = _governance._subject(subject, "the subject")
        plans: list[LegPlan] = []
        with self._read() as session:
            for call_id in call_ids:
                recording = self._recording_row(session, call_id)
                parties = session.scalars(
                    select(ParticipantRow).where(ParticipantRow.call_id == call_id)
                ).all()
                mine = [p.id for p in parties if _matches(p, who)]
                legs = session.scalars(
                    select(LegRow).where(LegRow.call_id == call_id, LegRow.participant_id.in_(mine))
                ).all()
                plans.append(
                    LegPlan(
                        call_id=call_id,
                        participant_ids=tuple(sorted(mine)),
                        channels=tuple(sorted({leg.channel for leg in legs})),
                        other_participants=len(parties) - len(mine),
                        recording_channels=recording.channels,
                    )
                )
        return plans


def _rekey_corrections(
    session: Session,
    recording_id: str,
    old_dek: bytes,
    new_dek: bytes,
    unchanged: Mapping[int, int],
    blanked_positions: Collection[int],
    keep_insights: bool = False,
) -> tuple[int, int]:
    """Re-encrypt a recording's rectifications under the new data key, or delete them.

    Kept: those of utterances kept unchanged (re-keyed to their new index), those of
    participants not blanked, and those of insights when the insights are carried over.
    Deleted: those of removed or cut utterances and of blanked participants (they hold
    what was erased), and any of a kind not known here (fail closed). Returns (kept,
    deleted).
    """
    old_cipher, new_cipher = _correction_cipher(old_dek), _correction_cipher(new_dek)
    kept = destroyed = 0
    rows = session.scalars(
        select(CorrectionRow).where(CorrectionRow.recording_id == recording_id)
    ).all()
    for row in rows:
        key: str | None = None
        if row.target == "utterance" and row.target_key.isdigit():
            index = unchanged.get(int(row.target_key))
            key = str(index) if index is not None else None
        elif row.target == "insight" and keep_insights:
            key = row.target_key
        elif row.target == "participant":
            position = row.target_key.split(".", 1)[0]
            if position.isdigit() and int(position) not in blanked_positions:
                key = row.target_key
        if key is None:
            session.delete(row)
            destroyed += 1
            continue
        for which in ("old", "new"):
            sealed = row.old_value if which == "old" else row.new_value
            value = _open(
                old_cipher, _aad(row.id, row.target, row.target_key, which), sealed, row.id
            )
            resealed = _seal(new_cipher, _aad(row.id, row.target, key, which), value)
            if which == "old":
                row.old_value = resealed
            else:
                row.new_value = resealed
        row.target_key = key
        kept += 1
    session.flush()
    return kept, destroyed


def _artifact_keys(session: Session, recording_id: str) -> dict[str, str]:
    """{kind: blob key} of a recording's artifacts."""
    rows = session.scalars(select(ArtifactRow).where(ArtifactRow.recording_id == recording_id))
    return {row.kind: row.blob_key for row in rows}


def _matches(party: ParticipantRow, who: str) -> bool:
    return party.phone == who or (party.name is not None and party.name.lower() == who.lower())


def _find_participant(session: Session, call_id: str, participant: int | str) -> ParticipantRow:
    parties = session.scalars(
        select(ParticipantRow)
        .where(ParticipantRow.call_id == call_id)
        .order_by(ParticipantRow.position)
    ).all()
    text = str(participant).strip()
    if isinstance(participant, int) or text.isdigit():
        position = int(text)
        for party in parties:
            if party.position == position:
                return party
        raise NotFound(
            f"call {call_id} has no participant at position {position}; it has "
            f"{len(parties)} (positions from 0)"
        )
    who = _governance._subject(text, "the participant")
    found = [p for p in parties if _matches(p, who)]
    if not found:
        raise NotFound(
            f"the participant you gave is not a participant of call {call_id}; give their "
            "position (0 is the first) or their number as stored"
        )
    if len(found) > 1:
        raise InputError(
            f"the participant you gave matches {len(found)} participants of call {call_id}; "
            "give their position instead (0 is the first)"
        )
    return found[0]
