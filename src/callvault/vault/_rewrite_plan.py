"""What a rewrite of a stored recording reads, plans and reports (`_rewrite.py` does it).

`RewritePlan` is a rewrite prepared and not yet written: the new audio sealed under a new
data key (not yet in place), the decrypted documents the caller rewrites to match, and
what the call held when it was read, which the writing transaction checks again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callvault.media import AudioEdit
from callvault.vault._crypto import SealedBlob
from callvault.vault._governance import ErasureCertificate
from callvault.vault._store import BlobWrite

__all__ = [
    "CallWithdrawal",
    "LegPlan",
    "RewritePlan",
    "RewriteResult",
    "TranscriptRewrite",
    "key_fingerprint",
]

_FINGERPRINT_INFO = b"callvault/dek-fingerprint/v1"


def key_fingerprint(dek: bytes) -> str:
    """A public name for a data key: the first 16 hex digits of a hash of it.

    A data key row is named by its recording's id, which a rewrite keeps; the fingerprint
    tells the destroyed key from its successor, and lets whoever holds a key check that it
    is the one destroyed. It reveals nothing of the key (256 random bits).
    """
    return hashlib.sha256(_FINGERPRINT_INFO + dek).hexdigest()[:16]


@dataclass(frozen=True)
class TranscriptRewrite:
    """A transcript document rewritten to match rewritten audio (what a rewrite stores)."""

    document: bytes
    status: str
    utterances: int
    words: int
    removed_utterances: int
    # Old utterance index -> new index, for the utterances kept unchanged: their
    # rectifications are kept (re-encrypted); those of cut or removed ones are destroyed.
    unchanged: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RewriteResult:
    """What a rewrite (`RewriteRepository.commit_rewrite`) did: the new audio, and the
    certificate of what it destroyed."""

    call_id: str
    recording_id: str
    action: str
    edit: dict[str, Any]
    sample_rate: int
    channels: int
    frames_before: int
    frames: int
    sha256: str
    old_key_fingerprint: str
    new_key_fingerprint: str
    removed_utterances: int
    blanked_participants: tuple[str, ...]
    corrections_kept: int
    corrections_destroyed: int
    certificate: ErasureCertificate

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "action": self.action,
            "edit": self.edit,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frames_before": self.frames_before,
            "frames": self.frames,
            "sha256": self.sha256,
            "old_key_fingerprint": self.old_key_fingerprint,
            "new_key_fingerprint": self.new_key_fingerprint,
            "removed_utterances": self.removed_utterances,
            "blanked_participants": list(self.blanked_participants),
            "corrections_kept": self.corrections_kept,
            "corrections_destroyed": self.corrections_destroyed,
            "destroyed": self.certificate.to_json(),
        }


@dataclass(frozen=True)
class CallWithdrawal:
    """A party's withdrawal (or refusal) of consent during a call, as recorded.

    `consent_ids`: the consent records of this party for this call now marked withdrawn
    (empty when none existed: the audit entry is then the only record).
    """

    call_id: str
    participant_id: str
    position: int
    channel: int | None
    at_seconds: float
    withdrawn_at: datetime
    refused: bool
    consent_ids: tuple[str, ...]
    consent_state: str
    other_participants: int
    sample_rate: int  # of the recording: whether a cut at `at_seconds` keeps a sample

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "participant_id": self.participant_id,
            "position": self.position,
            "channel": self.channel,
            "at_s": self.at_seconds,
            "withdrawn_at": self.withdrawn_at.isoformat(),
            "refused": self.refused,
            "consent_ids": list(self.consent_ids),
        }


@dataclass(frozen=True)
class LegPlan:
    """How much of a call a subject's erasure takes.

    `channels`: the recording channels whose leg is one of the subject's participants.
    `partial` when the call has other participants and each of the subject's
    participants has a channel of their own in a recording with more channels than that;
    otherwise the whole call goes (alone, a mono recording, or a party without a leg,
    whose voice may share a channel).
    """

    call_id: str
    participant_ids: tuple[str, ...]
    channels: tuple[int, ...]
    other_participants: int
    recording_channels: int

    @property
    def partial(self) -> bool:
        return (
            self.other_participants > 0
            and self.recording_channels > 1
            and len(self.channels) == len(self.participant_ids) > 0
            and len(self.channels) < self.recording_channels
        )


@dataclass(frozen=True)
class RewritePlan:
    """A rewrite read and prepared (`RewriteRepository.prepare_rewrite`), for
    `RewriteRepository.commit_rewrite` to write in a unit of work.

    `transcript` and `insights` are the call's documents as they were (decrypted, their
    reads audited), for the caller to rewrite to match the new audio; `expected` and
    `expected_artifacts` the blob keys the call held then: a transcript or rewrite stored
    meanwhile stops the commit. `writes` are the sealed blobs not yet in place (the new
    audio, the kept original): the commit stages them, `abort` drops them.
    """

    call_id: str
    recording_id: str
    edit: AudioEdit
    action: str
    reason: str
    actor: str | None
    dek: bytes = field(repr=False)
    sealed: SealedBlob
    blob_key: str
    sample_rate: int
    channels: int
    frames: int
    frames_before: int
    expected: tuple[str, str | None]
    expected_artifacts: Mapping[str, str]
    blank_participants: tuple[str, ...]
    erasure_state: str | None
    held_ok: bool
    original: tuple[str, SealedBlob, Mapping[str, Any]] | None
    writes: tuple[tuple[str, BlobWrite], ...]
    transcript: bytes | None = field(default=None, repr=False)
    insights: tuple[bytes, Mapping[str, Any]] | None = field(default=None, repr=False)

    def abort(self) -> None:
        """Drop the sealed blobs of a plan that will not be committed."""
        for _key, write in self.writes:
            write.abort()
