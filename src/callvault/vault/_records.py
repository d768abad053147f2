"""Records the vault returns. `to_json()` gives the documented, stable JSON shape
(docs/json.md); later stages add keys, never rename or remove them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.capture import NetworkFacts

__all__ = [
    "CallRecord",
    "CallSummary",
    "GarbageReport",
    "LegRecord",
    "ParticipantRecord",
    "RecordingRecord",
    "RotationResult",
    "StoreResult",
    "TranscriptInfo",
    "VerifyResult",
    "network_json",
]

CALL_SCHEMA = "callvault.call/1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class CallFilter:
    """Which calls a listing or a count covers. `agents`: only calls of these agents (an
    empty sequence: none; None: every agent); `since`/`until`: on the call's start."""

    agents: tuple[str, ...] | None = None
    direction: str | None = None
    language: str | None = None
    consent_state: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        agents: Sequence[str] | None = None,
        direction: str | None = None,
        language: str | None = None,
        consent_state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> CallFilter:
        return cls(
            tuple(agents) if agents is not None else None,
            direction,
            language,
            consent_state,
            since,
            until,
        )


@dataclass(frozen=True)
class ParticipantRecord:
    id: str
    position: int
    role: str
    phone: str | None
    name: str | None
    is_agent: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "phone": self.phone,
            "name": self.name,
            "is_agent": self.is_agent,
        }


@dataclass(frozen=True)
class LegRecord:
    id: str
    channel: int
    participant_id: str | None
    codec: str | None = None  # the codec on the network, for a captured call
    quality: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "participant_id": self.participant_id,
            "codec": self.codec,
            "quality": self.quality,
        }


@dataclass(frozen=True)
class RecordingRecord:
    id: str
    sha256: str
    size_bytes: int
    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    ciphertext_sha256: str
    chunk_size: int
    kek_id: str | None
    signing_key: str | None
    created_at: datetime

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "container": self.container,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "duration_s": round(self.duration_s, 3),
            "created_at": _iso(self.created_at),
            "encryption": {
                "cipher": "AES-256-GCM",
                "chunk_size": self.chunk_size,
                "kek_id": self.kek_id,
                "ciphertext_sha256": self.ciphertext_sha256,
            },
            "manifest": {"signed_by": self.signing_key},
        }


def _call_fields(call: CallSummary | CallRecord) -> dict[str, Any]:
    """The fields a call's listing and its full record share, in the documented order."""
    return {
        "id": call.id,
        "direction": call.direction,
        "agent": call.agent,
        "started_at": _iso(call.started_at),
        "language": call.language,
        "created_at": _iso(call.created_at),
        "consent_state": call.consent_state,
        "erasure_state": call.erasure_state,
    }


@dataclass(frozen=True)
class CallSummary:
    id: str
    direction: str | None
    agent: str | None
    started_at: datetime | None
    language: str | None
    created_at: datetime
    duration_s: float
    channels: int
    participants: int
    consent_state: str = "not-needed"
    erasure_state: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_call_fields(self),
            "duration_s": round(self.duration_s, 3),
            "channels": self.channels,
            "participants": self.participants,
        }


@dataclass(frozen=True)
class CallRecord:
    id: str
    direction: str | None
    agent: str | None
    started_at: datetime | None
    language: str | None
    created_at: datetime
    participants: tuple[ParticipantRecord, ...]
    legs: tuple[LegRecord, ...]
    recording: RecordingRecord
    consent_state: str = "not-needed"
    erasure_state: str | None = None
    source: str = "file"
    network: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": CALL_SCHEMA,
            **_call_fields(self),
            "source": self.source,
            "network": self.network,
            "participants": [p.to_json() for p in self.participants],
            "legs": [leg.to_json() for leg in self.legs],
            "recording": self.recording.to_json(),
        }


@dataclass(frozen=True)
class TranscriptInfo:
    """A transcript's metadata; the text itself is only in the encrypted blob."""

    recording_id: str
    status: str
    language: str | None
    model_name: str
    model_version: str
    utterances: int
    words: int
    created_at: datetime


@dataclass(frozen=True)
class StoreResult:
    call_id: str
    recording_id: str
    duplicate: bool


@dataclass(frozen=True)
class VerifyResult:
    call_id: str
    recording_id: str
    faults: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "ok": self.ok,
            "faults": list(self.faults),
        }


@dataclass(frozen=True)
class RotationResult:
    new_kek_id: str
    rewrapped: int
    retired: tuple[str, ...]


@dataclass(frozen=True)
class GarbageReport:
    incomplete_writes: int
    orphaned_blobs: tuple[str, ...]


def network_json(facts: NetworkFacts) -> str:
    """What `calls.network` keeps of a captured call (`show --json`'s `network`)."""
    return json.dumps(
        {
            "sip_call_id": facts.sip_call_id,
            "user_agents": list(facts.user_agents),
            "answered_at": _iso(facts.answered_at),
            "ended_at": _iso(facts.ended_at),
            "end_reason": facts.end_reason,
            "segment": facts.segment,
            "dtmf": [
                {
                    "channel": span.channel,
                    "start": round(span.start, 3),
                    "duration": round(span.duration, 3) if span.duration is not None else None,
                    "source": span.source,
                }
                for span in facts.dtmf
            ],
        },
        sort_keys=True,
    )
