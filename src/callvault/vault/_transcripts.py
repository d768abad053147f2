"""Transcripts of recordings: storing, reading and describing them.

`vault.transcripts` (a `TranscriptRepository`) holds each recording's current transcript,
encrypted under the recording's data key with `{recording_id}/transcript` as associated
data. A transcript replaces the one before it in one unit of work: the new blob is in
place before the row that points at it commits and the old blob is removed after, so a
reader sees the old or the new transcript, never half of one.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from callvault.vault._artifacts import INSIGHTS, artifact_object, put_artifact, transcript_object
from callvault.vault._crypto import BlobReader
from callvault.vault._models import CallRow, RecordingRow, TranscriptRow
from callvault.vault._records import TranscriptInfo
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = ["TranscriptRepository"]


class TranscriptRepository(Repository):
    """Transcripts (`vault.transcripts`): store, read, describe."""

    def store_transcript(
        self,
        call_id: str,
        document: bytes,
        *,
        status: str,
        language: str | None,
        model_name: str,
        model_version: str,
        utterances: int,
        words: int,
        actor: str | None = None,
        insights: tuple[bytes, Mapping[str, Any]] | None = None,
        tx: Transaction | None = None,
    ) -> str:
        """Encrypt a transcript under the recording's data key and make it the current one.

        With `tx` it joins the caller's unit of work, so that what is derived from the
        transcript (the search index's rows) becomes visible with it. `insights` (a
        document and its metadata) is stored with it as the recording's insights
        artifact; without it the stored insights stay as they are (a rectification of
        one utterance does not re-run the stages). Returns the recording id.
        """
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            recording = self._recording_row(session, call_id)
            rid = recording.id
            dek = self._data_key(session, recording)  # erased meanwhile: refuse to store
            key = f"{rid}.t{secrets.token_hex(6)}"
            sealed = unit.seal(key, dek, transcript_object(rid), io.BytesIO(document))
            row = session.get(TranscriptRow, rid)
            if row is None:
                row = TranscriptRow(recording_id=rid)
                session.add(row)
            else:
                unit.delete_after_commit(row.blob_key)
            row.status, row.language = status, language
            row.model_name, row.model_version = model_name, model_version
            row.blob_key = key
            row.ciphertext_sha256 = sealed.ciphertext_sha256
            row.ciphertext_size = sealed.ciphertext_size
            row.utterances, row.words = utterances, words
            row.created_at = datetime.now(UTC)
            self._record(
                session,
                "transcript.store",
                "recording",
                rid,
                actor=actor,
                details={
                    "call_id": call_id,
                    "status": status,
                    "model": f"{model_name}@{model_version}",
                },
            )
            if insights is not None:
                i_key = f"{rid}.i{secrets.token_hex(6)}"
                i_sealed = unit.seal(
                    i_key, dek, artifact_object(rid, INSIGHTS), io.BytesIO(insights[0])
                )
                stale = put_artifact(session, rid, INSIGHTS, i_key, i_sealed, insights[1])
                if stale is not None:
                    unit.delete_after_commit(stale)
            session.flush()
            if self.store.has_object_lock():  # a held or MiFID call's new blobs are kept too
                unit.after_commit(lambda: self.vault.holds.protect_calls([call_id]))
        return rid

    def untranscribed_recordings(self) -> list[tuple[str, str]]:
        """(call id, recording id) of every recording without a transcript, oldest first,
        except those of quarantined calls (not audited: ids only)."""
        with self._read() as session:
            rows = session.execute(
                select(RecordingRow.call_id, RecordingRow.id)
                .join(CallRow, CallRow.id == RecordingRow.call_id)
                .outerjoin(TranscriptRow, TranscriptRow.recording_id == RecordingRow.id)
                .where(TranscriptRow.recording_id.is_(None), CallRow.consent_state != "quarantined")
                .order_by(RecordingRow.created_at, RecordingRow.id)
            ).all()
        return [(str(call_id), str(recording_id)) for call_id, recording_id in rows]

    def transcript_info(self, call_id: str) -> TranscriptInfo | None:
        """What is known about a call's transcript without reading it (not audited: no text)."""
        with self._read() as session:
            recording = self._recording_row(session, call_id)
            row = session.get(TranscriptRow, recording.id)
            if row is None:
                return None
            return TranscriptInfo(
                recording_id=row.recording_id,
                status=row.status,
                language=row.language,
                model_name=row.model_name,
                model_version=row.model_version,
                utterances=row.utterances,
                words=row.words,
                created_at=row.created_at,
            )

    def read_transcript(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> bytes | None:
        """The decrypted transcript document of a call, or None; the read is audited.
        Refused on a restricted call as `open_recording` refuses (`transcript.read.refused`)."""
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self.vault.restrictions._read_refusal(
                session,
                call_id,
                "recording",
                recording.id,
                "transcript.read",
                actor=actor,
                purpose=purpose,
            )
            row = None if refused is not None else session.get(TranscriptRow, recording.id)
            if row is None and refused is None:
                return None
            if row is not None:
                dek = self._data_key(session, recording)
                self._record(
                    session,
                    "transcript.read",
                    "recording",
                    recording.id,
                    actor=actor,
                    purpose=purpose,
                    details={"call_id": call_id},
                )
                rid, key, size = recording.id, row.blob_key, row.ciphertext_size
        if refused is not None:
            raise refused  # after the commit: the refusal stays in the audit chain
        with self.store.open(key) as handle:
            reader = BlobReader(handle, size, dek, transcript_object(rid))
            return b"".join(reader.iter_chunks())
