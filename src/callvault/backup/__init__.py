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

__all__ = [
    "AnchorPlace",
    "AnchorSink",
    "S3AnchorSink",
    "StoredAnchor",
    "TsaClient",
    "anchor_name",
    "open_anchor_place",
    "read_anchors",
    "verify_timestamp",
]
