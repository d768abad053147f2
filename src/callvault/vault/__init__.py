"""The vault: metadata, encrypted blobs, envelope keys, signed manifests, audit chain."""

from callvault.vault._audit import AuditEntry, AuditFault, AuditReport
from callvault.vault._crypto import BlobReader
from callvault.vault._governance import (
    CONSENT_METHODS,
    CONSENT_SCOPES,
    ConsentRecord,
    DestroyedBlob,
    DestroyedKey,
    ErasureCertificate,
    ExpiredCall,
    HoldRecord,
    RetentionInfo,
)
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
    "CONSENT_METHODS",
    "CONSENT_SCOPES",
    "AuditEntry",
    "AuditFault",
    "AuditReport",
    "BlobReader",
    "BlobStore",
    "BlobWrite",
    "CallRecord",
    "CallSummary",
    "ConsentRecord",
    "DataPaths",
    "DestroyedBlob",
    "DestroyedKey",
    "ErasureCertificate",
    "ExpiredCall",
    "GarbageReport",
    "HoldRecord",
    "LegRecord",
    "LocalBlobStore",
    "ParticipantRecord",
    "RecordingRecord",
    "RetentionInfo",
    "RotationResult",
    "StoreResult",
    "TranscriptInfo",
    "Vault",
    "VerifyResult",
]
