"""The metadata schema (SQLAlchemy 2). Changes go through an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ARTIFACT_KINDS",
    "ArtifactRow",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "CallRow",
    "CallSignatureRow",
    "ConsentRow",
    "CorrectionRow",
    "DataKeyRow",
    "ErasureLedgerHeadRow",
    "ErasureLedgerRow",
    "LegRow",
    "LegalHoldRow",
    "LiveAlertCountRow",
    "LiveAlertRow",
    "LiveCallRow",
    "LiveCursorRow",
    "LiveEventRow",
    "ManifestRow",
    "ParticipantRow",
    "RecordingRow",
    "RefusalRow",
    "RestrictionRow",
    "TranscriptRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes, stored in UTC. SQLite keeps no offset, so every value is converted
    to UTC on the way in and marked as UTC on the way out, on every backend alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: callvault stores only aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CallRow(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(128), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Retention (migration 0005): a null retain_until means no expiry has been assigned
    # yet, and `retention run` never erases such a call.
    retention_class: Mapped[str] = mapped_column(
        String(32), default="standard", server_default="standard"
    )
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Consent (migration 0007): see CONSENT_STATES. A quarantined call is kept, unprocessed
    # and unread, until every party's consent is recorded or `quarantine_until` passes.
    consent_state: Mapped[str] = mapped_column(
        String(16), default="not-needed", server_default="not-needed", index=True
    )
    quarantine_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Null, or "partial" once one party's leg and utterances have been erased.
    erasure_state: Mapped[str | None] = mapped_column(String(16))
    # Where the call came from (capture.SOURCES) and, for a network capture, what the
    # network said of it as JSON (migration 0008; see vault._records.network_json).
    source: Mapped[str] = mapped_column(String(16), default="file", server_default="file")
    network: Mapped[str | None] = mapped_column(Text)


class CallSignatureRow(Base):
    """The signed access metadata of a call (migration 0014; `vault._callsig`): keyed
    digests of what decides who may read the call, and the vault's signature of them."""

    __tablename__ = "call_signatures"

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParticipantRow(Base):
    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    is_agent: Mapped[bool] = mapped_column(Boolean, default=False)


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    container: Mapped[str] = mapped_column(String(64))
    codec: Mapped[str] = mapped_column(String(32))
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(128))
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The file as ingested, once a rewrite replaced the audio (migration 0009): ingesting
    # the same file again is still a duplicate.
    source_sha256: Mapped[str | None] = mapped_column(String(64), index=True)


class LegRow(Base):
    __tablename__ = "legs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[int] = mapped_column(Integer)
    participant_id: Mapped[str | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), index=True
    )
    codec: Mapped[str | None] = mapped_column(String(32))  # on the network, if captured there
    quality: Mapped[str | None] = mapped_column(Text)  # JSON quality figures, if captured


class DataKeyRow(Base):
    """The wrapped data key of a recording. Deleting this row crypto-shreds the recording."""

    __tablename__ = "data_keys"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    kek_id: Mapped[str] = mapped_column(String(32), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ManifestRow(Base):
    __tablename__ = "manifests"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))


class AuditRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(256))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The signed last link of the audit chain, so that cutting off its end is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class TranscriptRow(Base):
    """Where a recording's transcript is: a blob encrypted under the recording's data key,
    so crypto-shredding the recording erases the transcript with it."""

    __tablename__ = "transcripts"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(128))
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    utterances: Mapped[int] = mapped_column(Integer)
    words: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LegalHoldRow(Base):
    """A legal hold on one call or on a data subject (a number or name of a participant).

    `call_id` has no ON DELETE action: a call with a hold row cannot be deleted by
    accident; `Vault.delete_call` refuses while a hold is active and removes the
    released holds of the call with it (their history stays in the audit chain).
    """

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(256), index=True)
    reason: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(128))
    release_reason: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (
        CheckConstraint(
            "(call_id IS NULL) <> (subject_id IS NULL)", name="ck_legal_holds_one_target"
        ),
    )


class ConsentRow(Base):
    """A participant's consent to recording (and to analysis or training) of calls.

    Kept when the call is erased (`call_id` becomes null): it is the proof that the
    recording was lawful.
    """

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    participant: Mapped[str] = mapped_column(String(256), index=True)
    method: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    # A standing consent covers the participant's future calls (call_id is null); a
    # per-call consent whose call was erased also has a null call_id but is not standing.
    standing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RestrictionRow(Base):
    """A data subject's restriction of processing (GDPR Art. 18), active until lifted.

    While active, the subject's calls are not processed, not found by search and not read
    except for the grounds that Art. 18(2) allows; retention does not erase them.
    """

    __tablename__ = "restrictions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(256), index=True)
    reason: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(128))
    lift_reason: Mapped[str | None] = mapped_column(String(256))


class CorrectionRow(Base):
    """One rectification of a stored value: what it was, what it became, who and why.

    `old_value` and `new_value` are encrypted under the recording's data key (AES-GCM,
    the correction id as associated data), so erasing the call erases its history too.
    """

    __tablename__ = "corrections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(String(64))
    target_key: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[bytes] = mapped_column(LargeBinary)
    new_value: Mapped[bytes] = mapped_column(LargeBinary)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


ARTIFACT_KINDS = ("insights", "original", "scorecard")


class ArtifactRow(Base):
    """A blob derived from or kept beside a recording (migration 0009), encrypted under
    the recording's data key with `{recording_id}/{kind}` as associated data, so erasing
    the recording erases it. `kind` is one of ARTIFACT_KINDS: "insights" (the document of
    the insight stages and redactions) or "original" (the unredacted audio, kept only
    where the redaction policy allows it) or "scorecard" (a call scored against a rubric,
    dropped by a rewrite of the audio: score again). `meta` is JSON without content (the format
    of the original, the stage versions of the insights)."""

    __tablename__ = "artifacts"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


REFUSAL_STATUSES = ("pending", "applied", "flagged", "reversed", "expired")


class RefusalRow(Base):
    """A spoken refusal to be recorded, found in a processed call (migration 0018).

    The words are personal data: sealed (AES-GCM, `{id}/words` as associated data) under
    the detection's own data key, wrapped in `wrapped` like a recording's. The part of
    the recording cut away for it (`quarantine_key`, sealed under the same key with
    `{id}/quarantine`) is kept until `quarantine_until`, then crypto-shredded: the
    wrapped key is overwritten and the blob deleted. Goes with its call (CASCADE: the
    key row with it, so an erased call's detection is shredded too)."""

    __tablename__ = "refusal_detections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int | None] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    phrase: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    kek_id: Mapped[str | None] = mapped_column(String(32))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    words: Mapped[bytes | None] = mapped_column(LargeBinary)
    quarantine_key: Mapped[str | None] = mapped_column(String(128))
    quarantine_sha256: Mapped[str | None] = mapped_column(String(64))
    quarantine_size: Mapped[int | None] = mapped_column(BigInteger)
    quarantine_ciphertext_size: Mapped[int | None] = mapped_column(BigInteger)
    quarantine_meta: Mapped[str | None] = mapped_column(Text)
    quarantine_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    consent_ids: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_reason: Mapped[str | None] = mapped_column(String(256))
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# -- the live board (migration 0019, issue 20) ----------------------------------------


class LiveCallRow(Base):
    """A call being monitored while it goes on. `label` is a display name that is not
    personal data (the source's trunk or line, never a number); `roles` is JSON
    {channel: role}; `call_id` is the stored call once the recorder knows it."""

    __tablename__ = "live_calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(String(64), index=True)
    team: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    call_id: Mapped[str | None] = mapped_column(String(64))


class LiveEventRow(Base):
    """One event of the board, in the order of `seq`, which is board-wide (the cursor of
    the live stream) and handed out from `LiveCursorRow` so that the rows commit in
    the order of their numbers. `payload` is the sealed JSON of the event (speaker,
    text, words): AES-256-GCM under the board key, the live call id and `seq` bound as
    associated data; never clear text in a column. `kind`: open, partial, final,
    alert, ack, close."""

    __tablename__ = "live_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    live_id: Mapped[str] = mapped_column(
        ForeignKey("live_calls.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[int | None] = mapped_column(Integer)
    call_time: Mapped[float | None] = mapped_column(Float)
    alert_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)


class LiveAlertRow(Base):
    """An alert of a live call; `text` (the triggering words, masked for card and
    identity data by the rules) is sealed like an event's payload."""

    __tablename__ = "live_alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    live_id: Mapped[str] = mapped_column(
        ForeignKey("live_calls.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[int | None] = mapped_column(Integer)
    call_time: Mapped[float] = mapped_column(Float)
    start: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    text: Mapped[bytes] = mapped_column(LargeBinary)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LiveCursorRow(Base):
    """The board's last event number (one row): a publish raises it in its
    transaction, which locks the row until the commit, so events become visible in the
    order of their numbers and a reader's cursor never skips one."""

    __tablename__ = "live_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class LiveAlertCountRow(Base):
    """Alerts raised per rule since the board began: the `callvault_live_alerts_total`
    counter, kept apart from the alerts (which are pruned) so it never goes down."""

    __tablename__ = "live_alert_counts"

    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


# -- the erasure ledger (migration 0020, issue 21) ------------------------------------


class ErasureLedgerRow(Base):
    """One erasure, by ids only (never personal data): what was destroyed, chained by
    SHA-256 like the audit log and signed entry by entry, so a copy kept outside the
    database (in every backup) can be checked offline and replayed at restore."""

    __tablename__ = "erasure_ledger"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))


class ErasureLedgerHeadRow(Base):
    """The ledger's last entry (one row): appenders lock it, which serialises them on
    PostgreSQL, and an entry removed from the end is seen against it."""

    __tablename__ = "erasure_ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
