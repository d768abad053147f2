"""The API's declared request and response bodies (OpenAPI `components/schemas`).

Each response model lists the fields of the record's `to_json()` in the same order and
with the JSON types it writes, so a body is the same, byte for byte, as before it was
declared (the routes that use these render with `JSONResponse`, as undeclared ones do).
Timestamps are the ISO 8601 strings the records write; a number that is an integer in
one record and a float in another is declared `int | float` so neither is converted.
Free-form parts (a transcript, insights, network metadata, a job's payload) stay
objects.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActionIn",
    "CallDocument",
    "CallPage",
    "CallSummaryOut",
    "CorrectionList",
    "CorrectionOut",
    "EncryptionOut",
    "IngestedCallOut",
    "InsightCorrection",
    "JobOut",
    "JobPage",
    "LegOut",
    "ManifestOut",
    "ParticipantOut",
    "RecordingOut",
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
