"""Artifacts of a recording: the insights document and the kept unredacted original.

Both are blobs encrypted under the recording's data key, with `{recording_id}/{kind}` as
associated data (an insights blob cannot pass for audio, or the other way round), so
erasing the recording erases them with it. The insights document is stored in the same
transaction as the transcript it was derived from (`TranscriptRepository.store_transcript`), and a
rewrite of the audio carries it over or drops it (`RewriteRepository.commit_rewrite`).

The original is what a recording was before its redaction, kept only where the policy
allows it (never for payment card data, unless a legal hold requires it). Only the
compliance role opens it, with a stated reason, and every open (or refusal) is audited.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from callvault.errors import InputError, NotAuthorized, NotFound, Quarantined, Restricted
from callvault.vault import _governance
from callvault.vault._crypto import BlobReader, SealedBlob
from callvault.vault._models import ArtifactRow
from callvault.vault._repo import Repository
from callvault.vault._rights import CorrectionRecord
from callvault.vault._unit import Transaction

__all__ = [
    "COMPLIANCE_ROLE",
    "INSIGHTS",
    "ORIGINAL",
    "SCORECARD",
    "ArtifactInfo",
    "ArtifactRepository",
    "artifact_object",
    "transcript_object",
]

INSIGHTS = "insights"
ORIGINAL = "original"
SCORECARD = "scorecard"
_STORABLE = (SCORECARD,)  # kinds `store_artifact` writes; the others have their own paths
COMPLIANCE_ROLE = "compliance"


def transcript_object(recording_id: str) -> str:
    """The associated data of a transcript blob: a transcript blob cannot pass for the
    audio of the same recording, or the other way round."""
    return f"{recording_id}/transcript"


def artifact_object(recording_id: str, kind: str) -> str:
    """The associated data of an artifact blob."""
    return f"{recording_id}/{kind}"


@dataclass(frozen=True)
class ArtifactInfo:
    """What is known of an artifact without decrypting it (no content)."""

    recording_id: str
    kind: str
    sha256: str
    size_bytes: int
    meta: Mapping[str, Any]
    created_at: datetime


def put_artifact(
    session: Session,
    recording_id: str,
    kind: str,
    blob_key: str,
    sealed: SealedBlob,
    meta: Mapping[str, Any],
) -> str | None:
    """Within a write: point the artifact `kind` of a recording at a sealed blob; returns
    the old blob's key, to delete once the transaction has committed."""
    row = session.get(ArtifactRow, (recording_id, kind))
    old = None
    if row is None:
        row = ArtifactRow(recording_id=recording_id, kind=kind)
        session.add(row)
    else:
        old = row.blob_key
    row.blob_key = blob_key
    row.sha256, row.size_bytes = sealed.sha256, sealed.size
    row.ciphertext_sha256, row.ciphertext_size = sealed.ciphertext_sha256, sealed.ciphertext_size
    row.meta = json.dumps(dict(meta), sort_keys=True)
    row.created_at = datetime.now(UTC)
    return old


def drop_artifact(session: Session, recording_id: str, kind: str) -> str | None:
    """Within a write: remove the artifact `kind`; returns its blob key, if it had one."""
    row = session.get(ArtifactRow, (recording_id, kind))
    if row is None:
        return None
    session.delete(row)
    return row.blob_key


@dataclass(frozen=True)
class _InsightsBlob:
    """Where a call's insights document is and the key that opens it."""

    recording_id: str
    key: str
    size: int
    dek: bytes


class ArtifactRepository(Repository):
    """Artifacts (`vault.artifacts`): reading them, and correcting insights."""

    def correct_insight(
        self,
        call_id: str,
        key: str,
        old: dict[str, Any],
        new: dict[str, Any],
        reason: str,
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> CorrectionRecord:
        """Record a user's correction of one insight (`key`: "SECTION/ANCHOR/FIELD", see
        `services.insight_corrections`), its old and new values (JSON text under
        "value") encrypted as a rectification's are.

        The insights document itself is not changed: corrections are applied when it is
        read, so they survive a re-run of the stages. Audited as `insight.correct` (ids
        and key, no values); refused on a restricted call."""
        why = _governance._reason(reason, "the reason")
        self.vault.restrictions.refuse_if_restricted(call_id, doing="corrected")
        with self._writing(tx) as session:
            self.vault.restrictions.refuse_restricted_within(session, call_id, doing="corrected")
            recording = self._recording_row(session, call_id)
            if session.get(ArtifactRow, (recording.id, INSIGHTS)) is None:
                raise InputError(
                    f"call {call_id} has no insights yet; process it first "
                    f"(`callvault process {call_id}`)"
                )
            row = self.vault.corrections._correction_row(
                session, recording, "insight", key, old, new, why, actor
            )
            self._record(
                session,
                "insight.correct",
                "recording",
                recording.id,
                actor=actor,
                purpose=why,
                details={"call_id": call_id, "correction_id": row.id, "key": key},
            )
            return CorrectionRecord(
                id=row.id,
                call_id=call_id,
                recording_id=recording.id,
                target="insight",
                key=key,
                old=old.get("value"),
                new=str(new.get("value")),
                actor=row.actor,
                reason=why,
                created_at=row.created_at,
            )

    def insights_meta(self, call_id: str, *, tx: Transaction) -> Mapping[str, Any] | None:
        """Within `tx`: the metadata of a call's insights (no content, so not audited), or
        None. The call's row is locked first (PostgreSQL: FOR UPDATE; SQLite's writer
        lock already holds), so two runs of one job that both reach their store meet
        here one after the other and the second sees what the first stored (issue 19:
        at-least-once jobs store once)."""
        session = tx.session
        call = self._call_row(session, call_id)
        session.refresh(call, with_for_update=True)
        recording = self._recording_row(session, call_id)
        row = session.get(ArtifactRow, (recording.id, INSIGHTS))
        if row is None:
            return None
        meta: dict[str, Any] = json.loads(row.meta)
        return meta

    def read_insights(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> bytes | None:
        """The decrypted insights document of a call, or None; audited as
        `insights.read`, and refused on a restricted or quarantined call as a transcript
        read is."""
        with self._write() as session:
            refused, planned = self._insights_read(session, call_id, actor, purpose)
        if refused is not None:
            raise refused  # after the commit: the refusal stays in the audit chain
        return None if planned is None else self._open_insights(planned)

    def read_insights_many(
        self,
        call_ids: Iterable[str],
        *,
        actor: str | None = None,
        purpose: str | None = None,
        batch: int = 200,
    ) -> dict[str, bytes]:
        """The decrypted insights documents of many calls (for aggregates over thousands
        of calls): each read audited and refused as `read_insights` does, `batch` calls to
        a transaction instead of one each. Calls without insights, and those whose read
        is refused (restricted, quarantined; the refusal audited), are left out."""
        found: dict[str, bytes] = {}
        ids = list(dict.fromkeys(call_ids))
        for first in range(0, len(ids), batch):
            planned: dict[str, _InsightsBlob] = {}
            with self._write() as session:
                for call_id in ids[first : first + batch]:
                    _refused, blob = self._insights_read(session, call_id, actor, purpose)
                    if blob is not None:
                        planned[call_id] = blob
            for call_id, blob in planned.items():
                found[call_id] = self._open_insights(blob)
        return found

    def _insights_read(
        self, session: Session, call_id: str, actor: str | None, purpose: str | None
    ) -> tuple[Restricted | Quarantined | None, _InsightsBlob | None]:
        """Within a read's transaction: the refusal to raise after the commit (audited),
        or the insights blob to open (the read audited); (None, None) without insights."""
        recording = self._recording_row(session, call_id)
        refused = self.vault.restrictions._read_refusal(
            session, call_id, "recording", recording.id, "insights.read",
            actor=actor, purpose=purpose,
        )  # fmt: skip
        if refused is not None:
            return refused, None
        row = session.get(ArtifactRow, (recording.id, INSIGHTS))
        if row is None:
            return None, None
        dek = self._data_key(session, recording)
        self._record(
            session,
            "insights.read",
            "recording",
            recording.id,
            actor=actor,
            purpose=purpose,
            details={"call_id": call_id},
        )
        return None, _InsightsBlob(recording.id, row.blob_key, row.ciphertext_size, dek)

    def _open_insights(self, blob: _InsightsBlob) -> bytes:
        with self.store.open(blob.key) as handle:
            reader = BlobReader(
                handle, blob.size, blob.dek, artifact_object(blob.recording_id, INSIGHTS)
            )
            return b"".join(reader.iter_chunks())

    @contextmanager
    def open_original(
        self, call_id: str, *, role: str, reason: str, actor: str | None = None
    ) -> Iterator[tuple[BlobReader, ArtifactInfo]]:
        """Decrypting access to the unredacted original of a call, for the compliance
        role with a stated reason; the open is audited first (`original.read`), a
        refusal too (`original.read.refused`), and a restriction refuses it as it
        refuses any read."""
        why = _governance._reason(reason, "the reason")
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            rid = recording.id
            refusal: Exception | None = None
            if role != COMPLIANCE_ROLE:
                refusal = NotAuthorized(
                    f"the original of call {call_id} opens only for the compliance role, not "
                    f"for {role!r}; listeners get the redacted audio (callvault audio "
                    f"{call_id} --out FILE)"
                )
                self._record(
                    session,
                    "original.read.refused",
                    "recording",
                    rid,
                    actor=actor,
                    purpose=why,
                    details={"call_id": call_id, "role": role},
                )
            else:
                refusal = self.vault.restrictions._read_refusal(
                    session, call_id, "recording", rid, "original.read", actor=actor, purpose=why
                )
            row = session.get(ArtifactRow, (rid, ORIGINAL))
            if refusal is None and row is None:
                refusal = NotFound(
                    f"call {call_id} has no kept original: it was never redacted, or the "
                    "redaction policy did not keep it (never for payment card data)"
                )
            if refusal is None and row is not None:
                dek = self._data_key(session, recording)
                self._record(
                    session,
                    "original.read",
                    "recording",
                    rid,
                    actor=actor,
                    purpose=why,
                    details={"call_id": call_id, "role": role},
                )
                info = ArtifactInfo(
                    rid, ORIGINAL, row.sha256, row.size_bytes, json.loads(row.meta), row.created_at
                )
                key, size = row.blob_key, row.ciphertext_size
        if refusal is not None:
            raise refusal  # after the commit: the refusal stays in the audit chain
        with self.store.open(key) as handle:
            yield BlobReader(handle, size, dek, artifact_object(rid, ORIGINAL)), info

    def store_artifact(
        self,
        call_id: str,
        kind: str,
        document: bytes,
        meta: Mapping[str, Any],
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Encrypt a derived document (a scorecard) under the recording's data key as its
        artifact `kind`, replacing the one before; audited as `KIND.store` (ids only),
        refused on a restricted call. A rewrite of the audio drops it."""
        if kind not in _STORABLE:
            raise InputError(f"artifact kind {kind!r} is not stored this way; use {_STORABLE}")
        self.vault.restrictions.refuse_if_restricted(call_id, doing="scored")
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            self.vault.restrictions.refuse_restricted_within(session, call_id, doing="scored")
            recording = self._recording_row(session, call_id)
            rid = recording.id
            dek = self._data_key(session, recording)
            key = f"{rid}.a{secrets.token_hex(6)}"
            sealed = unit.seal(key, dek, artifact_object(rid, kind), io.BytesIO(document))
            stale = put_artifact(session, rid, kind, key, sealed, meta)
            if stale is not None:
                unit.delete_after_commit(stale)
            self._record(
                session, f"{kind}.store", "recording", rid, actor=actor,
                details={"call_id": call_id},
            )  # fmt: skip
            session.flush()
            if self.store.has_object_lock():
                unit.after_commit(lambda: self.vault.holds.protect_calls([call_id]))

    def read_artifact(
        self, call_id: str, kind: str, *, actor: str | None = None, purpose: str | None = None
    ) -> bytes | None:
        """A decrypted `store_artifact` document, or None; audited as `KIND.read` and
        refused on a restricted or quarantined call as an insights read is."""
        if kind not in _STORABLE:
            raise InputError(f"artifact kind {kind!r} is not read this way; use {_STORABLE}")
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self.vault.restrictions._read_refusal(
                session, call_id, "recording", recording.id, f"{kind}.read",
                actor=actor, purpose=purpose,
            )  # fmt: skip
            row = None if refused is not None else session.get(ArtifactRow, (recording.id, kind))
            if row is not None:
                dek = self._data_key(session, recording)
                self._record(
                    session, f"{kind}.read", "recording", recording.id, actor=actor,
                    purpose=purpose, details={"call_id": call_id},
                )  # fmt: skip
                rid, blob_key, size = recording.id, row.blob_key, row.ciphertext_size
        if refused is not None:
            raise refused
        if row is None:
            return None
        with self.store.open(blob_key) as handle:
            reader = BlobReader(handle, size, dek, artifact_object(rid, kind))
            return b"".join(reader.iter_chunks())
