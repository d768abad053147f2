"""Which adapter stores what, chosen by configuration (ARCHITECTURE.md, "Deployment shapes").

Only the local directory exists today; an S3-compatible store would be picked here, from
settings, and every consumer already holds a `BlobStore`, not a `LocalBlobStore`.
"""

from __future__ import annotations

from callvault.config import Config
from callvault.vault._store import BlobStore, LocalBlobStore

__all__ = ["open_blob_store"]


def open_blob_store(config: Config) -> BlobStore:
    """The blob store `config` names: the `blobs` directory under the data directory."""
    # DataPaths is declared beside Vault, whose module imports this one.
    from callvault.vault._vault import DataPaths

    return LocalBlobStore(DataPaths(config.data_dir).blobs)
