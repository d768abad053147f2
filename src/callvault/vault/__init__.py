"""The vault: metadata, encrypted blobs, envelope keys, signed manifests, audit chain."""

from callvault.vault._audit import AuditEntry, AuditFault, AuditReport
from callvault.vault._crypto import BlobReader
from callvault.vault._records import (
    CallRecord,
    CallSummary,
    GarbageReport,
    LegRecord,
    ParticipantRecord,
    RecordingRecord,
    RotationResult,
    StoreResult,
    TranscriptInfo,
    VerifyResult,
)
from callvault.vault._store import BlobStore, BlobWrite, LocalBlobStore
from callvault.vault._vault import DataPaths, Vault

__all__ = [
    "AuditEntry",
    "AuditFault",
    "AuditReport",
    "BlobReader",
    "BlobStore",
    "BlobWrite",
    "CallRecord",
    "CallSummary",
    "DataPaths",
    "GarbageReport",
    "LegRecord",
    "LocalBlobStore",
    "ParticipantRecord",
    "RecordingRecord",
    "RotationResult",
    "StoreResult",
    "TranscriptInfo",
    "Vault",
    "VerifyResult",
]
