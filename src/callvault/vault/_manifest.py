"""Signed integrity manifests: what a recording is, bound to its bytes and ciphertext."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

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
    def parse(cls, data: str | bytes) -> Manifest:
        raw: Any = json.loads(data)
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise ValueError("the manifest does not have the expected fields")
        return cls(**raw)
