"""The API's declared request and response bodies (OpenAPI `components/schemas`).

Each response model lists the fields of the record's `to_json()` in the same order and
with the JSON types it writes, so a body is the same, byte for byte, as before it was
declared: FastAPI writes both with pydantic (a route annotated `dict[str, Any]` too).
Timestamps are the ISO 8601 strings the records write; a number that is an integer in
one record and a float in another is declared `int | float` so neither is converted.
Free-form parts (a transcript, insights, network metadata, a job's payload) stay
objects. A key that a route writes only sometimes (a semantic hit's `methods`, a leg
erasure's `scope` and `partial`) is optional with no value by default, and its route is
declared with `response_model_exclude_unset`, so a body without it stays without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callvault.config import SUBJECT_ERASURE_MODES
from callvault.policy import Consent

__all__ = [
    "ActionIn",
    "ActionItemOut",
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
    "ContactCallOut",
    "ContactList",
    "ContactOut",
    "ContactTimeline",
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
    "ImportedContactsOut",
    "IngestedCallOut",
    "InsightCorrection",
    "JobOut",
    "JobPage",
    "JurisdictionOut",
    "LegOut",
    "LiftIn",
    "Login",
    "LoginOut",
    "LogoutOut",
    "ManifestOut",
    "MeOut",
    "ParticipantOut",
    "PolicyDecisionOut",
    "PolicyQuestion",
    "PolicyReasonOut",
    "Reason",
    "RecordingOut",
    "RefusalList",
    "RefusalOut",
    "RefusalReviewIn",
    "ReleaseIn",
    "RestrictIn",
    "RestrictionList",
    "RestrictionOut",
    "RetentionErasedOut",
    "RetentionIn",
    "RetentionInfoOut",
    "RetentionReportOut",
    "RetentionSkippedOut",
    "SearchHitOut",
    "SearchPage",
    "Subject",
    "SubjectCallOut",
    "SubjectErasureOut",
    "SubjectIn",
    "SubjectSearchOut",
    "TokenCreatedOut",
    "TokenIn",
    "TokenOut",
    "UserIn",
    "UserList",
    "UserOut",
    "UserPatch",
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


class SubjectErasureOut(_Out):
    """The calls of a subject erased whole; with the "leg" scope also `scope` and
    `partial` (the calls of which only the subject's channel was erased), which a
    whole-call erasure leaves out (the route writes only the keys it was given)."""

    subject: str
    erased: list[str]
    scope: str | None = None
    partial: list[str] | None = None


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
    refusal_quarantines: list[dict[str, Any]] = []  # spoken refusals (issue 20)


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


# -- accounts: users, tokens, sign-in -----------------------------------------------------


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=12, max_length=1024)
    role: str = Field(min_length=1, max_length=32)
    team: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(default=None, max_length=128)


class UserPatch(BaseModel):
    role: str | None = Field(default=None, min_length=1, max_length=32)
    team: str | None = Field(default=None, max_length=64)
    disabled: bool | None = None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=8
    )
    expires_in_days: int = Field(default=90, ge=1, le=365)


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(_Out):
    """A user; `disabled_at` and `locked_at` are null while the account is usable."""

    id: str
    username: str
    display_name: str | None
    role: str
    team: str | None
    created_at: str
    disabled_at: str | None
    locked_at: str | None


class UserList(_Out):
    users: list[UserOut]


class TokenOut(_Out):
    """An API token (never its secret)."""

    id: str
    username: str
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenCreatedOut(_Out):
    """A new token and its secret, which no other answer shows."""

    token: TokenOut
    secret: str


class LoginOut(_Out):
    """The signed-in user and the CSRF token unsafe requests of the session send."""

    user: UserOut
    csrf_token: str
    expires_at: str


class LogoutOut(_Out):
    ended: bool


class MeOut(_Out):
    """The caller; `scopes`: the bearer token's scopes (null: a browser session)."""

    user: UserOut
    scopes: list[str] | None


# -- policy -------------------------------------------------------------------------------


class PolicyQuestion(BaseModel):
    participants: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=16
    )
    direction: str | None = Field(default=None, max_length=16)
    team: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    at: datetime | None = None
    language: str | None = Field(default=None, max_length=16)
    organisation: str | None = Field(default=None, max_length=256)


class JurisdictionOut(_Out):
    country: str
    region: str | None
    key: str


class PolicyReasonOut(_Out):
    """One rule or table entry and what it said; `participant`: the index of the
    participant it is about (null: the whole call)."""

    rule: str
    participant: int | None
    said: str


class PolicyDecisionOut(_Out):
    """Whether a call may be recorded, the consent and notice it needs, and why."""

    schema_: str = Field(alias="schema")
    record: bool
    consent: Consent
    notice_required: bool
    notice_language: str
    notice_text: str
    retention_class: str
    legal_review: bool
    jurisdictions: list[JurisdictionOut]
    reasons: list[PolicyReasonOut]


# -- contacts -----------------------------------------------------------------------------


class ContactOut(_Out):
    id: str
    name: str | None
    phone: str | None
    email: str | None
    account: str | None
    crm_id: str | None
    created_at: str
    updated_at: str


class ContactList(_Out):
    contacts: list[ContactOut]


class ImportedContactsOut(_Out):
    """A contacts file imported: its rows, the contacts created and those updated."""

    rows: int
    created: int
    updated: int


class ActionItemOut(_Out):
    text: str | None
    owner: str | None
    due: str | None


class ContactCallOut(_Out):
    """A call of the contact; `summary` and `action_items` are null until processed and
    where the caller's role may not read insights (or a restriction covers the call)."""

    id: str
    started_at: str | None
    direction: str | None
    agent: str | None
    duration_s: int | float
    consent_state: str
    contact_ids: list[str]
    restricted: str | None
    summary: list[str] | None
    action_items: list[ActionItemOut] | None


class ContactTimeline(_Out):
    contact: ContactOut
    calls: list[ContactCallOut]


# -- search -------------------------------------------------------------------------------


class SearchHitOut(_Out):
    """One matching utterance; matches in `snippet` are marked « ». `methods` (which
    searches found it: "fts", "semantic") is written for semantic searches only."""

    call_id: str
    utterance: int
    speaker: str | None
    role: str | None
    start: int | float
    end: int | float
    snippet: str
    score: int | float
    methods: list[str] | None = None


class SearchPage(_Out):
    """Hits, best first when `ranked`; `matches`: how many utterances match (null when
    more did than are ranked, and for semantic searches)."""

    hits: list[SearchHitOut]
    ranked: bool
    matches: int | None
    limit: int
    offset: int


# -- spoken refusals (issue 20) -----------------------------------------------------------


class RefusalOut(_Out):
    """A spoken refusal found by processing: the decision, the words (null once
    destroyed), the confidence, its quarantine and its review."""

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
    quarantine_until: str | None
    consent_ids: list[str]
    detected_at: str | None
    applied_at: str | None
    reviewed_by: str | None
    reviewed_at: str | None
    review_reason: str | None
    shredded_at: str | None
    words: str | None
    job_id: str | None


class RefusalList(_Out):
    refusals: list[RefusalOut]


class RefusalReviewIn(BaseModel):
    reason: Reason
