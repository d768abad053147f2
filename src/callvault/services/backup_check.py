"""`callvault backup verify`: is a backup set whole, and is it what the vault wrote?
(issue 21)

Without restoring anything it checks the manifest's signature, the SHA-256 and size of
every file and object the manifest lists, the audit chain inside the set (every entry's
hash and link, and the signed head) and the erasure ledger's chain. With the recovery key
at hand (CALLVAULT_BACKUP_IDENTITY or CALLVAULT_BACKUP_PASSPHRASE) it also opens the key
material, checks that the manifest was signed by the key ring's own signing key, and
decrypts the database dump (every chunk authenticated) against its recorded hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from callvault.backup import BackupTarget, Manifest, object_name, open_sealed, set_file
from callvault.config import Config, mask_url
from callvault.errors import BackupError, BackupIncomplete, RecoveryKeyError
from callvault.services._backup_sets import (
    AUDIT_FILE,
    DATABASE_FILE,
    KEYS_PREFIX,
    LEDGER_FILE,
    Progress,
    decrypt_file,
    file_aad,
    file_sha256,
    jsonl,
    list_sets,
    progress_or_quiet,
    read_manifest,
    target_of,
)
from callvault.vault import LedgerEntry, check_exported_audit, verify_entries

__all__ = ["BackupFault", "BackupReport", "open_key_bundle", "verify_backup"]

_HASHERS = 4


@dataclass(frozen=True)
class BackupFault:
    where: str  # the object, file, audit entry or ledger entry at fault
    message: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


@dataclass(frozen=True)
class BackupReport:
    set_id: str
    target: str
    complete: bool
    faults: tuple[BackupFault, ...]
    checked: dict[str, int] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.complete and not self.faults

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.set_id,
            "target": self.target,
            "ok": self.ok,
            "complete": self.complete,
            "checked": dict(self.checked),
            "skipped": list(self.skipped),
            "faults": [f.to_json() for f in self.faults],
        }


def _hash(target: BackupTarget, name: str) -> tuple[str, int] | None:
    try:
        handle = target.open(name)
    except FileNotFoundError:
        return None
    digest, size = hashlib.sha256(), 0
    with handle:
        while data := handle.read(1 << 20):
            digest.update(data)
            size += len(data)
    return digest.hexdigest(), size


def _check_listed(
    target: BackupTarget, listed: dict[str, dict[str, Any]], step: Progress, stage: str
) -> list[BackupFault]:
    faults: list[BackupFault] = []
    done = 0
    with ThreadPoolExecutor(max_workers=_HASHERS, thread_name_prefix="callvault-verify") as pool:
        futures = {pool.submit(_hash, target, name): name for name in listed}
        for future in as_completed(futures):
            name = futures[future]
            found, want = future.result(), listed[name]
            done += 1
            step(stage, done, len(listed))
            if found is None:
                faults.append(BackupFault(name, "missing"))
            elif found != (want["sha256"], int(want["size"])):
                faults.append(
                    BackupFault(
                        name,
                        f"content changed: SHA-256 {found[0][:16]}... ({found[1]} bytes), the "
                        f"manifest says {str(want['sha256'])[:16]}... ({want['size']} bytes)",
                    )
                )
    return sorted(faults, key=lambda f: f.where)


def _public_key(manifest: Manifest) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(manifest.public_key)
    except ValueError:
        raise BackupError(
            f"backup {manifest.set_id}: the manifest's signer is unreadable"
        ) from None


def _signature_faults(manifest: Manifest, where: str) -> list[BackupFault]:
    try:
        _public_key(manifest).verify(bytes.fromhex(manifest.signature), manifest.signed_message())
    except (InvalidSignature, ValueError, BackupError):
        return [
            BackupFault(
                where, "the manifest's signature is invalid: it was changed after it was signed"
            )
        ]
    return []


def _local_key_fault(config: Config, manifest: Manifest, where: str) -> list[BackupFault]:
    """When this machine has the vault's public key, the manifest must be signed by it."""
    pub = config.data_dir / "keys" / "signing.pub"
    if not pub.is_file():
        return []
    try:
        local = serialization.load_pem_public_key(pub.read_bytes())
    except ValueError:
        return []
    if not isinstance(local, Ed25519PublicKey):
        return []
    raw = local.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if raw != manifest.public_key:
        return [
            BackupFault(
                where,
                f"signed by {manifest.key_id}, which is not this vault's signing key: "
                "a backup of another vault, or a forged one",
            )
        ]
    return []


def _audit_faults(target: BackupTarget, manifest: Manifest) -> tuple[list[BackupFault], int]:
    name = set_file(manifest.set_id, AUDIT_FILE)
    try:
        rows = list(jsonl(target.read(name)))
    except FileNotFoundError:
        return [BackupFault(name, "missing")], 0
    except ValueError:
        return [BackupFault(name, "not readable as JSON lines")], 0
    head = manifest.body.get("audit", {}).get("head")
    report = check_exported_audit(rows, head, _public_key(manifest))
    faults = [BackupFault(f"audit entry {f.seq}", f.message) for f in report.faults]
    return faults, report.entries


def _ledger_faults(target: BackupTarget, manifest: Manifest) -> tuple[list[BackupFault], int]:
    name = set_file(manifest.set_id, LEDGER_FILE)
    try:
        entries = [LedgerEntry.from_json(line) for line in jsonl(target.read(name))]
    except FileNotFoundError:
        return [BackupFault(name, "missing")], 0
    except (ValueError, KeyError, TypeError):
        return [BackupFault(name, "not readable as ledger entries")], 0
    faults = [BackupFault(name, msg) for msg in verify_entries(entries, _public_key(manifest))]
    ledger = manifest.body.get("ledger", {})
    head = entries[-1] if entries else None
    if (head.seq if head else 0) != ledger.get("head_seq") or (
        head.hash if head else None
    ) != ledger.get("head_hash"):
        faults.append(BackupFault(name, "does not end at the head the manifest records"))
    return faults, len(entries)


def open_key_bundle(target: BackupTarget, manifest: Manifest, config: Config) -> dict[str, Any]:
    """The set's key material, opened with the identity file or passphrase of `config`;
    `RecoveryKeyError` when neither is set or neither opens it."""
    sealed: dict[str, bytes] = {}
    for name in manifest.files:
        if name.startswith(KEYS_PREFIX) and name.endswith(".age"):
            method = name.removeprefix(KEYS_PREFIX).removesuffix(".age")
            sealed[method] = target.read(set_file(manifest.set_id, name))
    plain = open_sealed(
        sealed, identity_file=config.backup_identity, passphrase=config.backup_passphrase
    )
    try:
        bundle = json.loads(plain)
        files = {n: base64.b64decode(v) for n, v in bundle["files"].items()}
        return {"files": files, "backup_key": base64.b64decode(bundle["backup_key"])}
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"backup {manifest.set_id}: the key material is unreadable") from None


def _signer_matches(files: dict[str, bytes], manifest: Manifest) -> bool:
    try:
        key = serialization.load_pem_private_key(files["signing.key"], password=None)
    except (KeyError, ValueError):
        return False
    if not isinstance(key, Ed25519PrivateKey):
        return False
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw == manifest.public_key


def _keyed_faults(
    target: BackupTarget, manifest: Manifest, config: Config, step: Progress
) -> list[BackupFault]:
    where = set_file(manifest.set_id, "keys")
    bundle = open_key_bundle(target, manifest, config)
    faults = []
    if not _signer_matches(bundle["files"], manifest):
        faults.append(
            BackupFault(where, "the manifest is not signed by the key ring's own signing key")
        )
    work = Path(tempfile.mkdtemp(prefix="callvault-verify-"))
    try:
        step("database", 0, 1)
        name = set_file(manifest.set_id, DATABASE_FILE)
        plain = work / "database.dump"
        try:
            decrypt_file(
                target,
                name,
                bundle["backup_key"],
                file_aad(manifest.set_id, DATABASE_FILE),
                plain,
                work,
            )
        except BackupError as exc:
            faults.append(BackupFault(name, str(exc).removeprefix(f"{target.url} {name}: ")))
        else:
            if file_sha256(plain) != manifest.body["database"]["plain_sha256"]:
                faults.append(BackupFault(name, "decrypts, but not to the dump the manifest names"))
        step("database", 1, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return faults


def _verify_set(config: Config, target: BackupTarget, set_id: str, step: Progress) -> BackupReport:
    where = set_file(set_id, "manifest.json")
    url = mask_url(target.url)
    try:
        manifest = read_manifest(target, set_id)
    except BackupIncomplete as exc:
        return BackupReport(set_id, url, False, (BackupFault(where, str(exc)),))
    except BackupError as exc:
        return BackupReport(set_id, url, False, (BackupFault(where, str(exc)),))
    faults = _signature_faults(manifest, where) + _local_key_fault(config, manifest, where)
    files = {set_file(set_id, name): dict(v) for name, v in manifest.files.items()}
    faults += _check_listed(target, files, step, "files")
    objects = {object_name(key): dict(v) for key, v in manifest.objects.items()}
    faults += _check_listed(target, objects, step, "objects")
    audit, audited = _audit_faults(target, manifest)
    ledger, ledgered = _ledger_faults(target, manifest)
    faults += audit + ledger
    skipped: list[str] = []
    if config.backup_identity or config.backup_passphrase:
        try:
            faults += _keyed_faults(target, manifest, config, step)
        except RecoveryKeyError as exc:
            faults.append(BackupFault(set_file(set_id, "keys"), str(exc)))
    else:
        skipped.append(
            "key material and database dump not opened: no recovery key given "
            "(CALLVAULT_BACKUP_IDENTITY or CALLVAULT_BACKUP_PASSPHRASE); their hashes were "
            "checked"
        )
    return BackupReport(
        set_id,
        url,
        True,
        tuple(faults),
        {
            "files": len(files),
            "objects": len(objects),
            "audit_entries": audited,
            "ledger_entries": ledgered,
        },
        tuple(skipped),
    )


def verify_backup(
    config: Config,
    source: str | None = None,
    *,
    set_id: str | None = None,
    all_sets: bool = False,
    progress: Progress | None = None,
) -> list[BackupReport]:
    """Check one set (`set_id`, else the newest: complete or not, so an interrupted last
    backup is reported) or, with `all_sets`, every set of `source`."""
    target = target_of(config, source)
    step = progress_or_quiet(progress)
    if set_id is not None:
        ids = [set_id]
    else:
        sets = list_sets(target)
        if not sets:
            raise BackupError(f"there is no backup in {mask_url(target.url)}")
        ids = [s.set_id for s in sets] if all_sets else [sets[-1].set_id]
    return [_verify_set(config, target, sid, step) for sid in ids]
