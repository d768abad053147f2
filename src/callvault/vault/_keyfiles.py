"""The key ring's files as a backup carries them, and their return at restore (issue 21).

The key-encryption keys, the search and live board keys and the signing key are files of
the data directory's `keys/` folder. A backup takes them as bytes (`read_key_files`), and
only ever writes them sealed to the operator's recovery key; `install_key_files` puts
them back, mode 0600, into a data directory that has no keys yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from callvault.errors import IntegrityError, RestoreRefused
from callvault.vault._fs import atomic_write, private_dir

__all__ = ["RESTORE_MARKER", "install_key_files", "read_key_files", "restoring"]

# Relative to keys/: the key ring's folder `kek/` (key-encryption keys, `current`, the
# search and live board keys) and the signing key beside it.
_NAME = re.compile(
    r"(kek/(kek-[0-9a-f]+\.key|current|search\.key|live\.key)|signing\.key|signing\.pub)"
)

# Present in the data directory from the moment a restore starts writing until the
# erasure ledger has been replayed: a vault that finds it refuses to open (`Vault.init`),
# so a restore that was interrupted never serves the calls it had not yet erased again.
RESTORE_MARKER = "restore-in-progress"


def restoring(data_dir: Path) -> bool:
    return (data_dir / RESTORE_MARKER).exists()


def read_key_files(keys_dir: Path) -> dict[str, bytes]:
    """Every key file of the key ring, by name."""
    files = {
        name: path.read_bytes()
        for path in sorted(keys_dir.rglob("*"))
        if path.is_file() and _NAME.fullmatch(name := path.relative_to(keys_dir).as_posix())
    }
    if "kek/current" not in files or "signing.key" not in files:
        raise IntegrityError(f"the key ring {keys_dir} is incomplete (no current key or signer)")
    return files


def install_key_files(keys_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` into an empty `keys_dir` (mode 0700, files 0600)."""
    bad = [name for name in files if not _NAME.fullmatch(name)]
    if bad:
        raise IntegrityError(f"the backup's key material holds an unexpected file {bad[0]!r}")
    if keys_dir.exists() and any(path.is_file() for path in keys_dir.rglob("*")):
        raise RestoreRefused(
            f"{keys_dir} already holds keys; restore only writes into an empty data directory"
        )
    for name, data in files.items():
        path = keys_dir / name
        private_dir(path.parent)
        atomic_write(path, data, mode=0o644 if name.endswith(".pub") else 0o600)
