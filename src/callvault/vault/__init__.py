"""The vault: metadata, encrypted blobs, envelope keys, signed manifests, audit chain."""

from callvault.vault._audit import AuditEntry, AuditFault, AuditReport
from callvault.vault._contacts import ContactCall, ContactInput, ContactRecord, ImportResult
from callvault.vault._crypto import BlobReader
from callvault.vault._fs import create_private
from callvault.vault._governance import (
    CONSENT_METHODS,
    CONSENT_SCOPES,
    CONSENT_STATES,
    Admission,
    ConsentGrant,
    ConsentRecord,
    DestroyedBlob,
    DestroyedKey,
    ErasureCertificate,
    ExpiredCall,
    HoldRecord,
    QuarantinedCall,
    RetentionInfo,
)
from callvault.vault._models import Base, UTCDateTime
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
from callvault.vault._rights import (
    RESTRICTION_GROUNDS,
    CorrectionRecord,
    RestrictionRecord,
    restriction_ground,
)
from callvault.vault._spool import EncryptedSpool
from callvault.vault._store import BlobStore, BlobWrite, LocalBlobStore
from callvault.vault._unit import Transaction
from callvault.vault._vault import DataPaths, Vault

__all__ = [
    "RESTRICTION_GROUNDS",
    "CorrectionRecord",
    "RestrictionRecord",
    "restriction_ground",
    "CONSENT_METHODS",
    "CONSENT_SCOPES",
    "CONSENT_STATES",
    "Admission",
    "AuditEntry",
    "AuditFault",
    "AuditReport",
    "Base",
    "BlobReader",
    "BlobStore",
    "BlobWrite",
    "CallRecord",
    "CallSummary",
    "ContactCall",
    "ContactInput",
    "ContactRecord",
    "ImportResult",
    "ConsentGrant",
    "ConsentRecord",
    "DataPaths",
    "EncryptedSpool",
    "DestroyedBlob",
    "DestroyedKey",
    "ErasureCertificate",
    "ExpiredCall",
    "GarbageReport",
    "HoldRecord",
    "LegRecord",
    "LocalBlobStore",
    "ParticipantRecord",
    "QuarantinedCall",
    "RecordingRecord",
    "RetentionInfo",
    "RotationResult",
    "StoreResult",
    "TranscriptInfo",
    "Transaction",
    "UTCDateTime",
    "Vault",
    "VerifyResult",
    "create_private",
]
