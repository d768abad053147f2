"""What backup, verify, prune and restore share: the target, its sets, the encryption of
a set's files (issue 21)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from callvault.backup import (
    MANIFEST,
    BackupTarget,
    Manifest,
    open_target,
    set_created,
    set_file,
    set_id_of,
)
from callvault.config import Config
from callvault.errors import BackupError, BackupIncomplete, ConfigError, IntegrityError
from callvault.vault import BlobEncryptor, BlobReader

__all__ = [
    "DATABASE_FILE",
    "AUDIT_FILE",
    "LEDGER_FILE",
    "KEYS_PREFIX",
    "Progress",
    "SetInfo",
    "EncryptingReader",
    "HashingReader",
    "decrypt_file",
    "file_aad",
    "file_sha256",
    "list_sets",
    "read_manifest",
    "target_of",
]

DATABASE_FILE = "database.enc"
AUDIT_FILE = "audit.jsonl"
LEDGER_FILE = "ledger.jsonl"
KEYS_PREFIX = "keys."  # keys.x25519.age, keys.scrypt.age

# A long task reports (stage, done, total) to the edge, which draws it.
Progress = Callable[[str, int, int], None]


def _quiet(_stage: str, _done: int, _total: int) -> None:
    return None


def progress_or_quiet(progress: Progress | None) -> Progress:
    return progress or _quiet


def target_of(config: Config, location: str | None, *, setting: str = "backup_to") -> BackupTarget:
    """The target named on the command line, else by the setting."""
    url = location or getattr(config, setting)
    if not url:
        raise ConfigError(
            f"no backup location: give one (a directory or s3://bucket/prefix) or set "
            f"CALLVAULT_{setting.upper()}"
        )
    try:
        return open_target(url, s3_endpoint_url=config.s3_endpoint_url, s3_region=config.s3_region)
    except ValueError as exc:
        raise ConfigError(f"backup location {url!r}: {exc}") from None


@dataclass(frozen=True)
class SetInfo:
    """One set in a target: complete when its manifest is there."""

    set_id: str
    complete: bool
    manifest: Manifest | None = None

    @property
    def created_at(self) -> str:
        return set_created(self.set_id).isoformat()

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.set_id,
            "created_at": self.created_at,
            "complete": self.complete,
        }
        if self.manifest is not None:
            body = self.manifest.body
            document.update(
                incremental=bool(body.get("incremental")),
                parent=body.get("parent"),
                calls=body.get("counts", {}).get("calls"),
                objects=len(self.manifest.objects),
                objects_copied=body.get("counts", {}).get("objects_copied"),
                bytes=sum(int(f["size"]) for f in self.manifest.files.values())
                + sum(int(o["size"]) for o in self.manifest.objects.values()),
                database=body["database"].get("kind"),
                recovery=body.get("recovery"),
            )
        return document


def read_manifest(target: BackupTarget, set_id: str) -> Manifest:
    """The set's manifest, parsed (its signature is checked by the caller)."""
    name = set_file(set_id, MANIFEST)
    try:
        data = target.read(name)
    except FileNotFoundError:
        if any(True for _ in target.list(f"sets/{set_id}/")):
            raise BackupIncomplete(
                f"backup {set_id} in {target.url} is incomplete: it has no manifest (the "
                "backup was interrupted); it cannot be verified or restored"
            ) from None
        raise BackupError(f"there is no backup {set_id} in {target.url}") from None
    return Manifest.parse(data, f"{target.url} {name}")


def list_sets(target: BackupTarget) -> list[SetInfo]:
    """Every set of the target, oldest first; a manifest that cannot be read counts as
    incomplete."""
    ids = sorted({sid for name in target.list("sets/") if (sid := set_id_of(name))})
    sets = []
    for set_id in ids:
        try:
            sets.append(SetInfo(set_id, True, read_manifest(target, set_id)))
        except BackupError:
            sets.append(SetInfo(set_id, False))
    return sets


def file_sha256(path: Path) -> str:
    """The SHA-256 of a local file, read in pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while data := handle.read(1 << 20):
            digest.update(data)
    return digest.hexdigest()


def file_aad(set_id: str, name: str) -> str:
    """What a set's encrypted file is bound to: its set and its name."""
    return f"backup:{set_id}/{name}"


class HashingReader(io.RawIOBase):
    """Reads through `source`, hashing and counting what passes."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.size += n
        return n


class EncryptingReader(io.RawIOBase):
    """The ciphertext of `source` under `dek` (the vault's chunked AES-256-GCM format),
    read as a stream; `sha256` and `size` are the ciphertext's, complete at EOF."""

    def __init__(self, source: BinaryIO, dek: bytes, aad: str, chunk_size: int) -> None:
        self._source = source
        self._encryptor = BlobEncryptor(dek, aad, chunk_size)
        self._pending = bytearray(self._encryptor.header)
        self._done = False
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def _fill(self, want: int) -> None:
        while len(self._pending) < want and not self._done:
            data = self._source.read(1 << 20)
            if data:
                for block in self._encryptor.update(data):
                    self._pending += block
            else:
                self._pending += self._encryptor.finalize()
                self._done = True

    def readinto(self, buffer: Any) -> int:
        self._fill(len(buffer))
        n = min(len(buffer), len(self._pending))
        chunk = bytes(self._pending[:n])
        del self._pending[:n]
        buffer[:n] = chunk
        self.sha256.update(chunk)
        self.size += n
        return n


def decrypt_file(
    target: BackupTarget, name: str, dek: bytes, aad: str, dest: Path, work: Path
) -> tuple[str, int]:
    """Fetch `name`, decrypt it into `dest`; returns the ciphertext's (sha256, size).
    A changed or damaged byte fails authentication (`BackupError` naming the file)."""
    cipher_path = work / (dest.name + ".enc")
    sha = hashlib.sha256()
    size = 0
    try:
        with target.open(name) as source, open(cipher_path, "wb") as out:
            while data := source.read(1 << 20):
                sha.update(data)
                size += len(data)
                out.write(data)
        with open(cipher_path, "rb") as handle, open(dest, "wb") as plain:
            reader = BlobReader(handle, size, dek, aad)
            for chunk in reader.iter_chunks():
                plain.write(chunk)
    except FileNotFoundError:
        raise BackupError(f"{target.url} {name} is missing") from None
    except IntegrityError as exc:
        raise BackupError(f"{target.url} {name}: {_reworded(exc)}") from None
    finally:
        cipher_path.unlink(missing_ok=True)
    return sha.hexdigest(), size


def _reworded(exc: IntegrityError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def jsonl(lines: bytes) -> Iterator[dict[str, Any]]:
    for line in lines.splitlines():
        if line.strip():
            yield json.loads(line)
