"""Signed integrity manifests: what a recording is, bound to its bytes and ciphertext."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from callvault.vault._models import RecordingRow

__all__ = ["MANIFEST_VERSION", "Manifest"]

MANIFEST_VERSION = "callvault.manifest/1"


@dataclass(frozen=True)
class Manifest:
    recording_id: str
    call_id: str
    original_sha256: str
    original_size: int
    ciphertext_sha256: str
    ciphertext_size: int
    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    created_at: str
    signing_key: str
    version: str = MANIFEST_VERSION

    def canonical(self) -> bytes:
        """The exact bytes that are signed: sorted keys, no whitespace, UTF-8."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def of_recording(cls, row: RecordingRow, *, created_at: str, signing_key: str) -> Manifest:
        """What the manifest of a stored recording says, from its database row."""
        return cls(
            recording_id=row.id,
            call_id=row.call_id,
            original_sha256=row.sha256,
            original_size=row.size_bytes,
            ciphertext_sha256=row.ciphertext_sha256,
            ciphertext_size=row.ciphertext_size,
            container=row.container,
            codec=row.codec,
            sample_rate=row.sample_rate,
            channels=row.channels,
            frames=row.frames,
            created_at=created_at,
            signing_key=signing_key,
        )

    def differences(self, other: Manifest) -> list[str]:
        """Names of the recorded facts on which two manifests disagree (not time or signer)."""
        ignored = {"created_at", "signing_key", "version"}
        return [
            f.name
            for f in fields(self)
            if f.name not in ignored and getattr(self, f.name) != getattr(other, f.name)
        ]

    @classmethod
    def parse(cls, data: str | bytes) -> Manifest:
        raw: Any = json.loads(data)
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise ValueError("the manifest does not have the expected fields")
        return cls(**raw)
