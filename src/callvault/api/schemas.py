"""The API's declared request and response bodies (OpenAPI `components/schemas`).

Each response model lists the fields of the record's `to_json()` in the same order and
with the JSON types it writes, so a body is the same, byte for byte, as before it was
declared: FastAPI writes both with pydantic (a route annotated `dict[str, Any]` too).
Timestamps are the ISO 8601 strings the records write; a number that is an integer in
one record and a float in another is declared `int | float` so neither is converted.
Free-form parts (a transcript, insights, network metadata, a job's payload) stay
objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callvault.config import SUBJECT_ERASURE_MODES

__all__ = [
    "ActionIn",
    "AuditCheck",
    "AuditEntryOut",
    "AuditFaultOut",
    "AuditPage",
    "CallDocument",
    "CallPage",
    "CallSummaryOut",
    "ConsentAddedOut",
    "ConsentIn",
    "ConsentList",
    "ConsentOut",
    "CorrectionList",
    "CorrectionOut",
    "DestroyedBlobOut",
    "DestroyedKeyOut",
    "EncryptionOut",
    "EraseSubjectIn",
    "ErasureCertificateOut",
    "HoldIn",
    "HoldList",
    "HoldOut",
    "IngestedCallOut",
    "InsightCorrection",
    "JobOut",
    "JobPage",
    "LegOut",
    "LiftIn",
    "ManifestOut",
    "ParticipantOut",
    "Reason",
    "RecordingOut",
    "ReleaseIn",
    "RestrictIn",
    "RestrictionList",
    "RestrictionOut",
    "RetentionErasedOut",
    "RetentionIn",
    "RetentionInfoOut",
    "RetentionReportOut",
    "RetentionSkippedOut",
    "Subject",
    "SubjectCallOut",
    "SubjectIn",
    "SubjectSearchOut",
]


class _Out(BaseModel):
    """A response body: the fields as written, nothing added."""

    model_config = ConfigDict(populate_by_name=True)


# -- calls --------------------------------------------------------------------------------


class CallSummaryOut(_Out):
    """One call in a listing."""

    id: str
    direction: str | None
    agent: str | None
    started_at: str | None
    language: str | None
    created_at: str
    consent_state: str
    erasure_state: str | None
    duration_s: int | float
    channels: int
    participants: int


class CallPage(_Out):
    """A page of calls, newest first; `total` counts every call the filters match."""

    calls: list[CallSummaryOut]
    total: int
    limit: int
    offset: int


class ParticipantOut(_Out):
    id: str
    role: str
    phone: str | None
    name: str | None
    is_agent: bool


class LegOut(_Out):
    id: str
    channel: int
    participant_id: str | None
    codec: str | None
    quality: dict[str, Any] | None


class EncryptionOut(_Out):
    cipher: str
    chunk_size: int
    kek_id: str | None
    ciphertext_sha256: str


class ManifestOut(_Out):
    signed_by: str | None


class RecordingOut(_Out):
    id: str
    sha256: str
    size_bytes: int
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: int | float
    created_at: str
    encryption: EncryptionOut
    manifest: ManifestOut


class CallDocument(_Out):
    """One call (`show --json`): its record, and the transcript, insights and redactions
    where the role may read them (null otherwise, or until processed); `restricted`: the
    id of a restriction of processing that covers it."""

    schema_: str = Field(alias="schema")
    id: str
    direction: str | None
    agent: str | None
    started_at: str | None
    language: str | None
    created_at: str
    consent_state: str
    erasure_state: str | None
    source: str
    network: dict[str, Any] | None
    participants: list[ParticipantOut]
    legs: list[LegOut]
    recording: RecordingOut
    transcript: dict[str, Any] | None
    insights: dict[str, Any] | None
    redactions: dict[str, Any] | None
    restricted: str | None


class IngestedCallOut(_Out):
    """An uploaded recording, stored (or found already stored) and queued."""

    source: str
    call_id: str
    recording_id: str
    duplicate: bool
    job_id: str | None
    consent_state: str


class InsightCorrection(BaseModel):
    section: str = Field(max_length=32)
    index: int = Field(ge=0)
    field: str = Field(max_length=32)
    value: str = Field(max_length=500)
    reason: str = Field(min_length=1, max_length=256)


class ActionIn(BaseModel):
    utterance: int = Field(ge=0)
    owner: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=500)
    due: str | None = Field(default=None, max_length=40)
    reason: str = Field(min_length=1, max_length=256)


class CorrectionOut(_Out):
    """One correction: old and new value, who, when and why."""

    id: str
    call_id: str
    recording_id: str
    target: str
    key: str
    start: int | float | None
    end: int | float | None
    old: str | None
    new: str
    actor: str
    reason: str
    created_at: str


class CorrectionList(_Out):
    corrections: list[CorrectionOut]


# -- jobs ---------------------------------------------------------------------------------


class JobOut(_Out):
    """One job: status, progress, attempts, last error."""

    id: str
    task: str
    payload: dict[str, Any]
    call_id: str | None
    status: str
    attempts: int
    max_attempts: int
    run_after: str | None
    progress: int | float | None
    progress_message: str | None
    last_error: str | None
    created_at: str | None
    updated_at: str | None
    finished_at: str | None


class JobPage(_Out):
    jobs: list[JobOut]
    limit: int


# -- governance: request bodies -----------------------------------------------------------

Reason = Annotated[str, Field(min_length=1, max_length=500)]
Subject = Annotated[str, Field(min_length=1, max_length=256)]


class ConsentIn(BaseModel):
    participant: Subject
    method: str = Field(min_length=1, max_length=64)
    scopes: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=8
    )
    call_id: str | None = Field(default=None, max_length=64)
    given_at: datetime | None = None
    note: str | None = Field(default=None, max_length=500)


class SubjectIn(BaseModel):
    subject: Subject
    purpose: str | None = Field(default=None, max_length=256)


class EraseSubjectIn(BaseModel):
    subject: Subject
    reason: Reason
    confirm: bool = False
    scope: Literal[SUBJECT_ERASURE_MODES] | None = None  # type: ignore[valid-type]


class RestrictIn(BaseModel):
    subject: Subject
    reason: Reason


class LiftIn(BaseModel):
    restriction_id: str = Field(min_length=1, max_length=64)
    reason: Reason


class RetentionIn(BaseModel):
    retention_class: str = Field(min_length=1, max_length=32)
    retain_until: datetime | None = None


class HoldIn(BaseModel):
    call_id: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, min_length=1, max_length=256)
    reason: Reason


class ReleaseIn(BaseModel):
    reason: Reason


# -- governance: responses ----------------------------------------------------------------


class DestroyedKeyOut(_Out):
    id: str
    wrapped_under: str | None


class DestroyedBlobOut(_Out):
    key: str
    kind: str
    recording_id: str
    ciphertext_sha256: str
    ciphertext_size: int


class ErasureCertificateOut(_Out):
    """What an erasure destroyed: the data keys (crypto-shredding) and the blobs."""

    call_id: str
    recording_ids: list[str]
    data_keys: list[DestroyedKeyOut]
    blobs: list[DestroyedBlobOut]
    retention_class: str
    retain_until: str | None
    erased_at: str | None
    method: str


class ConsentOut(_Out):
    id: str
    call_id: str | None
    standing: bool
    participant: str
    method: str
    scopes: list[str]
    given_at: str | None
    withdrawn_at: str | None
    active: bool
    recorded_by: str
    note: str | None


class ConsentList(_Out):
    consents: list[ConsentOut]


class ConsentAddedOut(ConsentOut):
    """The consent recorded; `released`: its call left quarantine (queued as `job_id`)."""

    released: bool
    job_id: str | None


class SubjectCallOut(_Out):
    call_id: str
    started_at: str | None
    role: str
    other_participants: int


class SubjectSearchOut(_Out):
    subject: str
    calls: list[SubjectCallOut]


class RestrictionOut(_Out):
    id: str
    subject: str
    reason: str
    active: bool
    calls: list[str]
    created_by: str
    created_at: str | None
    lifted_at: str | None
    lifted_by: str | None
    lift_reason: str | None


class RestrictionList(_Out):
    restrictions: list[RestrictionOut]


class RetentionErasedOut(_Out):
    call_id: str
    cause: str
    retention_class: str
    retain_until: str | None
    certificate: ErasureCertificateOut | None


class RetentionSkippedOut(_Out):
    call_id: str
    retention_class: str
    retain_until: str | None
    reason: str
    hold_ids: list[str]
    restriction_id: str | None


class RetentionReportOut(_Out):
    now: str | None
    dry_run: bool
    erased: list[RetentionErasedOut]
    skipped: list[RetentionSkippedOut]


class RetentionInfoOut(_Out):
    call_id: str
    retention_class: str
    retain_until: str | None


class HoldOut(_Out):
    id: str
    call_id: str | None
    subject: str | None
    reason: str
    active: bool
    created_by: str
    created_at: str | None
    released_at: str | None
    released_by: str | None
    release_reason: str | None


class HoldList(_Out):
    holds: list[HoldOut]


class AuditEntryOut(_Out):
    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str | None
    purpose: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(_Out):
    """Audit entries, newest first, one page; `total` counts every match."""

    entries: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


class AuditFaultOut(_Out):
    seq: int
    kind: str
    message: str


class AuditCheck(_Out):
    """The audit chain's check: `ok` unless a fault was found."""

    ok: bool
    entries: int
    faults: list[AuditFaultOut]
