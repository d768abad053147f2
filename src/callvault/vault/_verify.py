"""Integrity checks of stored recordings: signed manifest, ciphertext hash, decryption."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy.orm import Session

from callvault.errors import ConfigError, IntegrityError, KeyDestroyed
from callvault.vault._crypto import BlobReader, Signer
from callvault.vault._manifest import Manifest
from callvault.vault._models import ManifestRow, RecordingRow
from callvault.vault._store import BlobStore

__all__ = ["check_blob", "check_manifest"]

_READ_SIZE = 1 << 20


def check_manifest(session: Session, signer: Signer, recording: RecordingRow) -> list[str]:
    """Faults of a recording's manifest: missing, forged, or disagreeing with its row."""
    rid = recording.id
    row = session.get(ManifestRow, rid)
    if row is None:
        return [f"recording {rid}: its manifest is missing"]
    if not signer.verify(row.body.encode(), row.signature):
        return [
            f"recording {rid}: the manifest's signature does not verify (the manifest was changed)"
        ]
    try:
        manifest = Manifest.parse(row.body)
    except ValueError:
        return [f"recording {rid}: the manifest is unreadable"]
    expected = Manifest.of_recording(
        recording, created_at=manifest.created_at, signing_key=manifest.signing_key
    )
    return [
        f"recording {rid}: the database's {name} does not match the signed manifest"
        for name in expected.differences(manifest)
    ]


def check_blob(
    store: BlobStore,
    *,
    key: str,
    label: str,
    object_id: str,
    ciphertext_size: int,
    ciphertext_sha256: str,
    data_key: Callable[[], bytes],
    plain_sha256: str | None = None,
    plain_size: int | None = None,
) -> list[str]:
    """Faults of one encrypted blob: missing, changed, failing authentication or, when the
    plaintext's hash is known, decrypting to something else. `label` starts each message."""
    try:
        size = store.size(key)
    except FileNotFoundError:
        return [f"{label}: its encrypted blob is missing"]
    faults = []
    digest = hashlib.sha256()
    with store.open(key) as handle:
        while block := handle.read(_READ_SIZE):
            digest.update(block)
    if size != ciphertext_size or digest.hexdigest() != ciphertext_sha256:
        faults.append(
            f"{label}: the encrypted blob does not match its recorded hash (the ciphertext "
            "was changed)"
        )
    try:
        dek = data_key()
    except (KeyDestroyed, IntegrityError, ConfigError) as exc:
        return [*faults, str(exc)]
    plain, total = hashlib.sha256(), 0
    try:
        with store.open(key) as handle:
            for chunk in BlobReader(handle, size, dek, object_id).iter_chunks():
                plain.update(chunk)
                total += len(chunk)
    except IntegrityError as exc:
        faults.append(str(exc))
        return faults
    if plain_sha256 is not None and (plain.hexdigest() != plain_sha256 or total != plain_size):
        faults.append(f"{label}: the decrypted audio does not match the SHA-256 of the original")
    return faults
