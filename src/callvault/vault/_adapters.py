"""Which adapter stores what, chosen by configuration (ARCHITECTURE.md, "Deployment shapes").

`CALLVAULT_BLOB_STORE` picks the blob store: a local directory (`file://`, by default the
`blobs` directory of the data directory) or an S3-compatible object store (`s3://`).
Every consumer holds a `BlobStore`, never a particular one.
"""

from __future__ import annotations

from pathlib import Path

from callvault.config import Config
from callvault.vault._store import BlobStore, LocalBlobStore

__all__ = ["open_blob_store"]


def open_blob_store(config: Config) -> BlobStore:
    """The blob store `config.effective_blob_store` names."""
    url = config.effective_blob_store
    if url.startswith("s3://"):
        from callvault.vault._s3 import open_s3_store  # boto3 only when it is used

        return open_s3_store(config)
    return LocalBlobStore(Path(url.removeprefix("file://")))
