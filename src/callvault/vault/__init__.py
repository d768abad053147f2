"""The vault: metadata, encrypted blobs, envelope keys, signed manifests, audit chain."""

from callvault.vault._adapters import open_blob_store
from callvault.vault._anchor import AnchorFault, Checkpoint
from callvault.vault._artifacts import ArtifactInfo, ArtifactRepository
from callvault.vault._audit import AuditEntry, AuditFault, AuditReport
from callvault.vault._calls import CallRepository
from callvault.vault._consent import ConsentRepository
from callvault.vault._crypto import BlobEncryptor, BlobReader, new_data_key
from callvault.vault._exported import (
    SnapshotBlob,
    SnapshotContents,
    audit_line,
    check_exported_audit,
    snapshot_contents,
)
from callvault.vault._fs import create_private
from callvault.vault._governance import (
    CONSENT_METHODS,
    CONSENT_SCOPES,
    CONSENT_STATES,
    LEG_ERASE_ACTION,
    Admission,
    ConsentGrant,
    ConsentRecord,
    DestroyedBlob,
    DestroyedKey,
    ErasureBlock,
    ErasureCertificate,
    ExpiredCall,
    HoldRecord,
    QuarantinedCall,
    RetentionInfo,
    SubjectCall,
)
from callvault.vault._holds import HoldRepository
from callvault.vault._keyfiles import RESTORE_MARKER, install_key_files, read_key_files
from callvault.vault._ledger import (
    LEDGER_KINDS,
    REPLAY_ACTION,
    LedgerEntry,
    LedgerRepository,
    ReplayReport,
    verify_entries,
)
from callvault.vault._live import (
    LIVE_KINDS,
    LiveAlertRecord,
    LiveCallRecord,
    LiveEntry,
    LiveEventRecord,
    LiveRepository,
    NewLiveAlert,
)
from callvault.vault._models import Base, CallRow, ParticipantRow, RecordingRow, UTCDateTime
from callvault.vault._records import (
    CallFilter,
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
from callvault.vault._refusals import REFUSAL_STATUSES, RefusalRecord, RefusalRepository
from callvault.vault._rewrite import RewriteRepository
from callvault.vault._rewrite_plan import (
    CallWithdrawal,
    LegPlan,
    RewritePlan,
    RewriteResult,
    TranscriptRewrite,
)
from callvault.vault._rights import (
    RESTRICTION_GROUNDS,
    CorrectionRecord,
    CorrectionRepository,
    RestrictionRecord,
    RestrictionRepository,
    UtteranceCorrection,
    corrected_utterance,
    restriction_ground,
)
from callvault.vault._s3 import S3BlobStore
from callvault.vault._snapshot import (
    DatabaseDump,
    database_is_empty,
    dump_database,
    load_database,
)
from callvault.vault._spool import EncryptedSpool
from callvault.vault._store import BlobLocked, BlobStore, BlobWrite, LocalBlobStore
from callvault.vault._transcripts import TranscriptRepository
from callvault.vault._unit import Transaction
from callvault.vault._vault import DataPaths, Vault

__all__ = [
    "BlobEncryptor",
    "RESTORE_MARKER",
    "SnapshotBlob",
    "SnapshotContents",
    "audit_line",
    "check_exported_audit",
    "install_key_files",
    "new_data_key",
    "read_key_files",
    "snapshot_contents",
    "ArtifactInfo",
    "ArtifactRepository",
    "CallRepository",
    "ConsentRepository",
    "CorrectionRepository",
    "HoldRepository",
    "LEDGER_KINDS",
    "LedgerEntry",
    "LedgerRepository",
    "REPLAY_ACTION",
    "ReplayReport",
    "verify_entries",
    "RefusalRepository",
    "LIVE_KINDS",
    "LiveAlertRecord",
    "LiveCallRecord",
    "LiveEntry",
    "LiveEventRecord",
    "LiveRepository",
    "NewLiveAlert",
    "RestrictionRepository",
    "RewriteRepository",
    "TranscriptRepository",
    "LEG_ERASE_ACTION",
    "REFUSAL_STATUSES",
    "RESTRICTION_GROUNDS",
    "CallWithdrawal",
    "CorrectionRecord",
    "ErasureBlock",
    "LegPlan",
    "RefusalRecord",
    "RestrictionRecord",
    "RewritePlan",
    "RewriteResult",
    "SubjectCall",
    "TranscriptRewrite",
    "UtteranceCorrection",
    "corrected_utterance",
    "restriction_ground",
    "CONSENT_METHODS",
    "CONSENT_SCOPES",
    "CONSENT_STATES",
    "Admission",
    "Base",
    "AuditEntry",
    "AnchorFault",
    "AuditFault",
    "AuditReport",
    "Base",
    "BlobReader",
    "BlobLocked",
    "BlobStore",
    "BlobWrite",
    "CallFilter",
    "Checkpoint",
    "CallRecord",
    "CallRow",
    "CallSummary",
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
    "S3BlobStore",
    "ParticipantRecord",
    "ParticipantRow",
    "QuarantinedCall",
    "RecordingRecord",
    "RecordingRow",
    "RetentionInfo",
    "RotationResult",
    "StoreResult",
    "TranscriptInfo",
    "UTCDateTime",
    "Transaction",
    "UTCDateTime",
    "Vault",
    "VerifyResult",
    "create_private",
    "open_blob_store",
    "DatabaseDump",
    "database_is_empty",
    "dump_database",
    "load_database",
]
