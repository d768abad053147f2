"""Backups that never hold a key in the clear and never bring an erased call back
(issue 21): `create_backup`, `list_backups`, `prune_backups`, `make_identity`.

A backup is an online snapshot: the database is dumped in one consistent read
(`dump_database`), and the blobs, audit chain and object list are taken from that same
snapshot while `serve` and workers keep writing. The blobs are the vault's ciphertext
already and go to `objects/` of the target as they are (an incremental backup copies only
those its parent set does not list). The database dump is encrypted under a fresh key of
the set; that key and the key ring are sealed to the operator's recovery key (an age
recipient, a passphrase, or both) and nothing else. The erasure ledger is read after the
blobs, so an erasure made while the backup ran is in it and is replayed by any restore.
The signed manifest is written last: a set without it is incomplete.

`verify_backup` is in `services.backup_check`, `restore_backup` in `services.restore`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from callvault import __version__
from callvault.backup import (
    FORMAT,
    MANIFEST,
    BackupTarget,
    Manifest,
    RecoveryKey,
    copy_ledger_entries,
    keep_sets,
    new_set_id,
    object_name,
    seal,
    set_created,
    set_file,
    write_identity,
)
from callvault.config import Config, mask_url
from callvault.errors import BackupError, ConfigError
from callvault.services._backup_sets import (
    AUDIT_FILE,
    DATABASE_FILE,
    KEYS_PREFIX,
    LEDGER_FILE,
    EncryptingReader,
    HashingReader,
    Progress,
    SetInfo,
    file_aad,
    file_sha256,
    list_sets,
    progress_or_quiet,
    target_of,
)
from callvault.services._context import Context
from callvault.vault import (
    DataPaths,
    LedgerEntry,
    SnapshotContents,
    audit_line,
    dump_database,
    new_data_key,
    read_key_files,
    snapshot_contents,
)

__all__ = [
    "BackupResult",
    "PruneResult",
    "create_backup",
    "list_backups",
    "make_identity",
    "mirror_ledger",
    "prune_backups",
]

# Objects copied at once: the copy waits on the store and the target, not the CPU.
_COPIERS = 4
# A set that is younger than this may still be written by a running backup: prune leaves
# it, and leaves every object while such a set exists.
_RUNNING_HOURS = 24.0


@dataclass(frozen=True)
class BackupResult:
    set_id: str
    target: str
    incremental: bool
    parent: str | None
    calls: int
    objects: int
    objects_copied: int
    bytes_written: int
    ledger_entries: int
    erased_during: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.set_id,
            "target": self.target,
            "incremental": self.incremental,
            "parent": self.parent,
            "calls": self.calls,
            "objects": self.objects,
            "objects_copied": self.objects_copied,
            "bytes_written": self.bytes_written,
            "ledger_entries": self.ledger_entries,
            "erased_during_backup": list(self.erased_during),
            "seconds": round(self.seconds, 3),
        }


def _ledger_head(conn: Connection) -> int:
    value = conn.execute(text("SELECT max(seq) FROM erasure_ledger")).scalar()
    return int(value or 0)


def _inspect(conn: Connection) -> tuple[SnapshotContents, int]:
    return snapshot_contents(conn), _ledger_head(conn)


def _work_dir(config: Config, set_id: str) -> Path:
    """A private folder of the data directory for the plaintext dump (never the target)."""
    spool = DataPaths(config.data_dir).spool
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"backup-{set_id}-", dir=spool))


def _erased_blobs(entries: Iterable[LedgerEntry]) -> set[str]:
    """The blob keys the ledger `entries` destroyed."""
    return {
        str(blob["key"])
        for entry in entries
        for blob in entry.body.get("blobs", ())
        if isinstance(blob, Mapping) and "key" in blob
    }


def _copy_objects(
    ctx: Context,
    target: BackupTarget,
    contents: SnapshotContents,
    known: Mapping[str, Mapping[str, Any]],
    step: Progress,
) -> tuple[dict[str, dict[str, Any]], int, int, list[str]]:
    """Copy the snapshot's blobs that `known` (the parent set's objects) does not list
    with the same hash; returns (objects, copied, bytes, missing keys)."""
    store = ctx.vault.store
    objects: dict[str, dict[str, Any]] = {}
    todo = []
    for blob in contents.blobs:
        have = known.get(blob.key)
        if (
            have is not None
            and (blob.size is None or int(have["size"]) == blob.size)
            and (blob.sha256 is None or have["sha256"] == blob.sha256)
        ):
            objects[blob.key] = {"sha256": str(have["sha256"]), "size": int(have["size"])}
        else:
            todo.append(blob)

    def copy(key: str) -> tuple[str, str, int] | None:
        try:
            source = store.open(key)
        except FileNotFoundError:
            return None
        with source:
            reader = HashingReader(source)
            target.put(object_name(key), reader)  # type: ignore[arg-type]
        return key, reader.sha256.hexdigest(), reader.size

    missing: list[str] = []
    written = 0
    total = len(contents.blobs)
    done = total - len(todo)
    step("objects", done, total)
    expected = {blob.key: blob for blob in todo}
    with ThreadPoolExecutor(max_workers=_COPIERS, thread_name_prefix="callvault-backup") as pool:
        futures = {pool.submit(copy, blob.key): blob.key for blob in todo}
        for future in as_completed(futures):
            result = future.result()
            done += 1
            step("objects", done, total)
            if result is None:
                missing.append(futures[future])
                continue
            key, sha, size = result
            recorded = expected[key].sha256
            if recorded is not None and recorded != sha:
                raise BackupError(
                    f"blob {key} in the vault's store does not match the hash its row "
                    "records; nothing was marked complete. Run `callvault verify --all`"
                )
            objects[key] = {"sha256": sha, "size": size}
            written += size
    return objects, len(todo) - len(missing), written, sorted(missing)


def _seal_keys(config: Config, recovery: RecoveryKey, dek: bytes) -> list[tuple[str, bytes]]:
    files = read_key_files(DataPaths(config.data_dir).keyring.parent)
    bundle = {
        "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
        "backup_key": base64.b64encode(dek).decode(),
    }
    return [
        (f"{KEYS_PREFIX}{method}.age", sealed)
        for method, sealed in seal(json.dumps(bundle, sort_keys=True).encode(), recovery)
    ]


def mirror_ledger(entries: Sequence[LedgerEntry], target: BackupTarget) -> int:
    """Copy ledger entries the target's `ledger/` does not hold yet (one object per entry,
    created only, never overwritten); returns how many were written."""
    documents = [(e.seq, json.dumps(e.to_json(), sort_keys=True).encode() + b"\n") for e in entries]
    return copy_ledger_entries(target, documents)


def create_backup(
    ctx: Context,
    *,
    to: str | None = None,
    incremental: bool = False,
    progress: Progress | None = None,
) -> BackupResult:
    """Write one backup set to `to` (or CALLVAULT_BACKUP_TO); see the module's text."""
    config, vault = ctx.config, ctx.vault
    step = progress_or_quiet(progress)
    recovery = RecoveryKey.from_config(config.backup_recipient, config.backup_passphrase)
    target = target_of(config, to)
    started = time.monotonic()
    target.sweep()
    set_id = new_set_id()
    parent: SetInfo | None = None
    if incremental:
        complete = [s for s in list_sets(target) if s.complete]
        parent = complete[-1] if complete else None
    known = parent.manifest.objects if parent is not None and parent.manifest else {}
    work = _work_dir(config, set_id)
    try:
        step("database", 0, 1)
        dump_path = work / "database.dump"
        dump, inspected = dump_database(vault.engine, dump_path, inspect=_inspect)
        if inspected is None:  # pragma: no cover - dump_database runs inspect
            raise BackupError("the database snapshot returned nothing")
        contents, snapshot_seq = inspected
        dek = new_data_key()
        files: dict[str, dict[str, Any]] = {}

        def put_encrypted(name: str, path: Path) -> None:
            with open(path, "rb") as source:
                reader = EncryptingReader(source, dek, file_aad(set_id, name), config.chunk_size)
                target.put(set_file(set_id, name), reader)  # type: ignore[arg-type]
            files[name] = {"sha256": reader.sha256.hexdigest(), "size": reader.size}

        put_encrypted(DATABASE_FILE, dump_path)
        plain_sha = file_sha256(dump_path)
        dump_path.unlink()
        step("database", 1, 1)

        objects, copied, written, missing = _copy_objects(ctx, target, contents, known, step)

        # The ledger after the blobs: an erasure made meanwhile is in it (and explains a
        # blob that vanished).
        entries = vault.ledger.entries()
        erased = _erased_blobs(e for e in entries if e.seq > snapshot_seq)
        unexplained = [key for key in missing if key not in erased]
        if unexplained:
            raise BackupError(
                f"{len(unexplained)} blob(s) the database names are missing from the "
                f"vault's store (first: {unexplained[0]}); the backup was not completed. "
                "Run `callvault verify --all`"
            )

        def put_plain(name: str, data: bytes) -> None:
            target.put(set_file(set_id, name), data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

        put_plain(AUDIT_FILE, b"".join(audit_line(row) for row in contents.audit_rows))
        put_plain(
            LEDGER_FILE,
            b"".join(json.dumps(e.to_json(), sort_keys=True).encode() + b"\n" for e in entries),
        )
        for name, sealed in _seal_keys(config, recovery, dek):
            put_plain(name, sealed)
        mirror_ledger(entries, target)
        if config.erasure_ledger_to:
            mirror_ledger(entries, target_of(config, None, setting="erasure_ledger_to"))

        head = entries[-1] if entries else None
        body = {
            "format": FORMAT,
            "id": set_id,
            "created_at": set_created(set_id).isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "callvault": __version__,
            "incremental": parent is not None,
            "parent": parent.set_id if parent is not None else None,
            "database": {
                "kind": dump.kind,
                "revision": dump.revision,
                "tables": dict(dump.tables),
                "file": DATABASE_FILE,
                "plain_sha256": plain_sha,
                "plain_size": dump.size,
            },
            "files": files,
            "objects": objects,
            "erased_during_backup": sorted(set(missing)),
            "counts": {
                "calls": contents.calls,
                "objects": len(objects),
                "objects_copied": copied,
                "audit_entries": len(contents.audit_rows),
                "ledger_entries": len(entries),
            },
            "audit": {"entries": len(contents.audit_rows), "head": contents.audit_head},
            "ledger": {
                "snapshot_seq": snapshot_seq,
                "head_seq": head.seq if head else 0,
                "head_hash": head.hash if head else None,
            },
            "recovery": recovery.describe(),
            "signer": {
                "key_id": vault.signer.key_id,
                "public_key": vault.signer.public_key_bytes().hex(),
            },
        }
        manifest = Manifest.of(body, vault.signer.sign)
        target.put(set_file(set_id, MANIFEST), manifest.to_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = BackupResult(
        set_id=set_id,
        target=mask_url(target.url),
        incremental=parent is not None,
        parent=parent.set_id if parent is not None else None,
        calls=contents.calls,
        objects=len(objects),
        objects_copied=copied,
        bytes_written=written + sum(int(f["size"]) for f in files.values()),
        ledger_entries=len(entries),
        erased_during=tuple(sorted(set(missing))),
        seconds=time.monotonic() - started,
    )
    vault.record_event(
        "backup.create",
        "backup",
        set_id,
        actor=ctx.actor,
        details={k: v for k, v in result.to_json().items() if k != "erased_during_backup"},
    )
    return result


def list_backups(config: Config, source: str | None = None) -> list[SetInfo]:
    """The sets of `source` (or CALLVAULT_BACKUP_TO), oldest first."""
    return list_sets(target_of(config, source))


@dataclass(frozen=True)
class PruneResult:
    kept: tuple[str, ...]
    deleted: tuple[str, ...]
    incomplete_deleted: tuple[str, ...]
    objects_deleted: int
    objects_left: bool  # a running backup may need them: none were deleted
    dry_run: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "kept": list(self.kept),
            "deleted": list(self.deleted),
            "incomplete_deleted": list(self.incomplete_deleted),
            "objects_deleted": self.objects_deleted,
            "objects_left_for_running_backup": self.objects_left,
            "dry_run": self.dry_run,
            "notes": list(self.notes),
        }


def _delete_set(target: BackupTarget, set_id: str) -> None:
    # The manifest first: a set half deleted is incomplete, never whole but damaged.
    target.delete(set_file(set_id, MANIFEST))
    for name in list(target.list(f"sets/{set_id}/")):
        target.delete(name)


def prune_backups(
    config: Config,
    source: str | None = None,
    *,
    daily: int | None = None,
    weekly: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Delete the complete sets the retention does not keep (newest of each of the last
    `daily` days and `weekly` weeks; the newest always), incomplete sets older than a
    day, and the objects no kept set names."""
    target = target_of(config, source)
    moment = now or datetime.now(UTC)
    keep_daily = config.backup_keep_daily if daily is None else daily
    keep_weekly = config.backup_keep_weekly if weekly is None else weekly
    sets = list_sets(target)
    complete = {s.set_id: set_created(s.set_id) for s in sets if s.complete}
    kept = keep_sets(complete, daily=keep_daily, weekly=keep_weekly)
    deleted = sorted(s for s in complete if s not in kept)
    hours = {s.set_id: (moment - set_created(s.set_id)).total_seconds() / 3600 for s in sets}
    old_incomplete = sorted(
        s.set_id for s in sets if not s.complete and hours[s.set_id] > _RUNNING_HOURS
    )
    running = any(not s.complete and hours[s.set_id] <= _RUNNING_HOURS for s in sets)
    notes: list[str] = []
    objects_deleted = 0
    if not dry_run:
        for set_id in deleted + old_incomplete:
            _delete_set(target, set_id)
    if running:
        notes.append(
            "a backup younger than a day has no manifest yet (running, or killed): "
            "objects were left for it; prune again later"
        )
    else:
        named = {
            object_name(key)
            for s in sets
            if s.complete and s.set_id in kept and s.manifest is not None
            for key in s.manifest.objects
        }
        for name in list(target.list("objects/")):
            if name not in named:
                objects_deleted += 1
                if not dry_run:
                    target.delete(name)
    return PruneResult(
        kept=tuple(sorted(kept)),
        deleted=tuple(deleted),
        incomplete_deleted=tuple(old_incomplete),
        objects_deleted=objects_deleted,
        objects_left=running,
        dry_run=dry_run,
        notes=tuple(notes),
    )


def make_identity(path: Path) -> str:
    """Write a new age identity file (mode 0600, never over an existing file) and return
    its recipient, the value of CALLVAULT_BACKUP_RECIPIENT."""
    if path.exists():
        raise ConfigError(f"{path} exists; an identity file is never overwritten")
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is not a directory")
    recipient = write_identity(path)
    os.chmod(path, 0o600)
    return recipient
