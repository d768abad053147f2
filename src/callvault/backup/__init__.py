"""Copies kept elsewhere: backup targets (a directory or an S3 bucket), the sealing of a
backup's key material to a recovery key (age X25519 or an scrypt passphrase), the backup
set's signed manifest, and the places audit checkpoints are anchored (issue 21).

This package knows nothing of the vault: `services.backup` reads the vault and hands
bytes and streams to it.
"""

from callvault.backup._anchors import (
    AnchorPlace,
    AnchorSink,
    S3AnchorSink,
    StoredAnchor,
    TsaClient,
    anchor_name,
    open_anchor_place,
    read_anchors,
    verify_timestamp,
)
from callvault.backup._ledger_copy import LEDGER_PREFIX, copy_ledger_entries, ledger_name
from callvault.backup._manifest import (
    FORMAT,
    MANIFEST,
    Manifest,
    canonical,
    keep_sets,
    new_set_id,
    object_name,
    set_created,
    set_file,
    set_id_of,
)
from callvault.backup._seal import (
    RecoveryKey,
    generate_identity,
    open_sealed,
    read_identities,
    seal,
    write_identity,
)
from callvault.backup._target import (
    BackupTarget,
    LocalTarget,
    S3Target,
    check_name,
    open_target,
)

__all__ = [
    "LEDGER_PREFIX",
    "copy_ledger_entries",
    "ledger_name",
    "anchor_name",
    "AnchorPlace",
    "AnchorSink",
    "BackupTarget",
    "canonical",
    "check_name",
    "FORMAT",
    "generate_identity",
    "keep_sets",
    "LocalTarget",
    "MANIFEST",
    "Manifest",
    "new_set_id",
    "object_name",
    "open_anchor_place",
    "open_sealed",
    "open_target",
    "read_anchors",
    "read_identities",
    "RecoveryKey",
    "S3AnchorSink",
    "S3Target",
    "seal",
    "set_created",
    "set_file",
    "set_id_of",
    "StoredAnchor",
    "TsaClient",
    "verify_timestamp",
    "write_identity",
]
