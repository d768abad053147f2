"""Operating the storage: set it up, check it (recordings, readiness), rotate its keys,
sweep what interrupted writes left. The CLI's `init`, `verify`, `keys rotate` and `gc`
and the API's `/readyz` call these."""

from __future__ import annotations

from dataclasses import dataclass

from callvault.config import Config, mask_url
from callvault.services._context import Context
from callvault.vault import DataPaths, GarbageReport, RotationResult, Vault, VerifyResult

__all__ = [
    "StorageInfo",
    "collect_garbage",
    "init_storage",
    "readiness",
    "rotate_keys",
    "verify_recordings",
]


@dataclass(frozen=True)
class StorageInfo:
    """Where the storage of a configuration lives, and whether `init_storage` made it."""

    created: bool
    data_dir: str
    database: str
    blobs: str
    blobs_created: bool
    keyring: str
    signing_key: str


def init_storage(config: Config) -> StorageInfo:
    """Create the data directory, keys and database where missing."""
    vault, created = Vault.init(config)
    with vault:
        paths = DataPaths(config.data_dir)
        return StorageInfo(
            created=created,
            data_dir=str(paths.root),
            database=vault.database_kind(),
            blobs=mask_url(config.effective_blob_store),
            blobs_created=vault.store_created,
            keyring=str(paths.keyring),
            signing_key=vault.signer.key_id,
        )


def verify_recordings(
    ctx: Context, call_id: str | None = None, *, actor: str | None = None
) -> list[VerifyResult]:
    """Decrypt, re-hash and check the signatures of one call's recording, or of all."""
    return ctx.vault.calls.verify(call_id, actor=actor)


def rotate_keys(ctx: Context, *, actor: str | None = None) -> RotationResult:
    """Re-wrap every data key under a new key-encryption key and retire the old ones."""
    return ctx.vault.rotate_keys(actor=actor)


def collect_garbage(ctx: Context, *, dry_run: bool = False) -> GarbageReport:
    """Remove what interrupted writes left behind (never anything a record points to)."""
    return ctx.vault.collect_garbage(dry_run=dry_run)


def readiness(ctx: Context) -> dict[str, str]:
    """ "ok" or "unavailable" for the database, the blob store (writable) and the keys.
    A failure's reason is not given: the answer is public."""
    vault = ctx.vault
    checks: dict[str, str] = {}
    try:
        vault.ping()
        checks["database"] = "ok"
    except Exception:  # any failure means not ready; the reason is not leaked
        checks["database"] = "unavailable"
    try:
        vault.store.check_writable()  # the blobs directory, or a small put and delete
        checks["blobs"] = "ok"
    except Exception:  # any failure means not ready; the reason is not leaked
        checks["blobs"] = "unavailable"
    checks["keys"] = "ok" if vault.keyring.current_id() else "unavailable"
    return checks
