"""Copies kept elsewhere: backup targets (a directory or an S3 bucket), the sealing of a
backup's key material to a recovery key (age X25519 or an scrypt passphrase), the backup
set's signed manifest, and the places audit checkpoints are anchored (issue 21).

This package knows nothing of the vault: `services.backup` reads the vault and hands
bytes and streams to it.
"""

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

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Manifest",
    "canonical",
    "keep_sets",
    "new_set_id",
    "object_name",
    "set_created",
    "set_file",
    "set_id_of",
]
