"""`callvault restore`: a backup set back into an empty data directory and database,
with every erasure made since the backup replayed before anyone is served (issue 21).

The steps, each recorded in a marker file of the data directory so that an interrupted
restore is resumed by running it again (and no process opens the vault meanwhile:
`Vault.init` refuses while the marker is there): the key material is opened with the
recovery key and written to `keys/`; the database dump is decrypted, checked against its
hash and loaded; the objects are copied into the blob store, each checked against its
hash; then the erasure ledger is gathered (the set's own copy, the copies in every newer
set, the target's `ledger/` and CALLVAULT_ERASURE_LEDGER_TO), checked (one chain, signed
by the vault's key) and every entry newer than the restored database's is replayed: what
it erased is erased again, with a `ledger.replay` certificate in the audit chain.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callvault.backup import BackupTarget, Manifest, object_name, set_created, set_file
from callvault.config import Config, mask_url
from callvault.errors import BackupError, RestoreRefused
from callvault.services._backup_sets import (
    DATABASE_FILE,
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
from callvault.services._context import Context
from callvault.services.backup_check import open_key_bundle
from callvault.services.ledger import replay_erasures
from callvault.vault import (
    RESTORE_MARKER,
    DataPaths,
    LedgerEntry,
    Vault,
    database_is_empty,
    install_key_files,
    load_database,
    open_blob_store,
    verify_entries,
)

__all__ = ["RestoreResult", "gather_ledger", "restore_backup"]

_COPIERS = 4
_STAGES = ("keys", "database", "objects", "replay")


@dataclass(frozen=True)
class RestoreResult:
    set_id: str
    source: str
    calls: int
    objects: int
    ledger_entries: int
    replayed: int
    replay: dict[str, Any]
    audit_ok: bool
    resumed: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.set_id,
            "source": self.source,
            "calls": self.calls,
            "objects": self.objects,
            "ledger_entries": self.ledger_entries,
            "replayed": self.replayed,
            "replay": self.replay,
            "audit_ok": self.audit_ok,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
        }


def _check_signed(manifest: Manifest) -> Ed25519PublicKey:
    try:
        key = Ed25519PublicKey.from_public_bytes(manifest.public_key)
        key.verify(bytes.fromhex(manifest.signature), manifest.signed_message())
    except Exception:  # noqa: BLE001 - any failure means: not signed as written
        raise BackupError(
            f"backup {manifest.set_id}: the manifest's signature is invalid; run "
            "`callvault backup verify` to see what changed. Nothing was restored"
        ) from None
    return key


def _read_ledger(target: BackupTarget, names: Iterable[str]) -> list[LedgerEntry]:
    entries = []
    for name in names:
        for line in jsonl(target.read(name)):
            entries.append(LedgerEntry.from_json(line))
    return entries


def gather_ledger(
    config: Config,
    target: BackupTarget,
    manifest: Manifest,
    public_key: Ed25519PublicKey,
    extra: Sequence[str] = (),
) -> list[LedgerEntry]:
    """The newest erasure ledger to be found: the set's copy, the copies of every newer
    complete set, `ledger/` of the target, of CALLVAULT_ERASURE_LEDGER_TO and of `extra`;
    one chain from entry 1, signed by the vault's key, or `BackupError`."""
    merged: dict[int, LedgerEntry] = {}

    def add(entries: Iterable[LedgerEntry], where: str) -> None:
        for entry in entries:
            have = merged.get(entry.seq)
            if have is not None and have.hash != entry.hash:
                raise BackupError(
                    f"two copies of the erasure ledger disagree at entry {entry.seq} ({where}); "
                    "nothing was replayed. Give the trusted copy alone with --ledger"
                )
            merged[entry.seq] = entry

    add(_read_ledger(target, [set_file(manifest.set_id, LEDGER_FILE)]), "this backup")
    created = set_created(manifest.set_id)
    for info in list_sets(target):
        if info.complete and set_created(info.set_id) > created:
            add(_read_ledger(target, [set_file(info.set_id, LEDGER_FILE)]), info.set_id)
    places = [target, *(target_of(config, loc) for loc in extra)]
    if config.erasure_ledger_to:
        places.append(target_of(config, None, setting="erasure_ledger_to"))
    for place in places:
        add(_read_ledger(place, sorted(place.list("ledger/"))), mask_url(place.url))
    ordered = [merged[seq] for seq in sorted(merged)]
    for expected, entry in enumerate(ordered, start=1):
        if entry.seq != expected:
            raise BackupError(
                f"the erasure ledger copies have a gap: entry {expected} is missing (entries "
                f"up to {ordered[-1].seq} were found); nothing was replayed. Give a copy "
                "that holds it with --ledger"
            )
    faults = verify_entries(ordered, public_key)
    if faults:
        raise BackupError(f"the erasure ledger does not verify: {faults[0]}; nothing was replayed")
    return ordered


def _marker(config: Config) -> Path:
    return config.data_dir / RESTORE_MARKER


def _write_marker(config: Config, state: dict[str, Any]) -> None:
    path = _marker(config)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    tmp.replace(path)


def _refuse_unless_empty(config: Config) -> None:
    keys = DataPaths(config.data_dir).keyring.parent
    if keys.exists() and any(keys.iterdir()):
        raise RestoreRefused(
            f"{config.data_dir} already holds a vault (keys/ is not empty); restore only "
            "writes into an empty data directory: set CALLVAULT_DATA_DIR to a new one"
        )
    url = config.effective_database_url
    if not database_is_empty(url):
        raise RestoreRefused(
            f"the database {mask_url(url)} is not empty; restore only writes into an empty database"
        )
    store = open_blob_store(config)
    store.ensure_ready(object_lock=config.s3_object_lock != "off")
    if any(True for _ in store.iter_keys()):
        raise RestoreRefused(
            f"the blob store {mask_url(config.effective_blob_store)} is not empty; restore "
            "only writes into an empty one"
        )


def _restore_objects(
    config: Config, target: BackupTarget, manifest: Manifest, step: Progress
) -> int:
    store = open_blob_store(config)
    store.ensure_ready(object_lock=config.s3_object_lock != "off")
    present = set(store.iter_keys())
    todo = {k: v for k, v in manifest.objects.items() if k not in present}

    def copy(key: str) -> str | None:
        digest = hashlib.sha256()
        write = store.begin_write(key)
        try:
            with target.open(object_name(key)) as source:
                while data := source.read(1 << 20):
                    digest.update(data)
                    write.write(data)
            if digest.hexdigest() != todo[key]["sha256"]:
                write.abort()
                return key
            write.commit()
        except BaseException:
            write.abort()
            raise
        return None

    total, done = len(manifest.objects), len(manifest.objects) - len(todo)
    bad: list[str] = []
    with ThreadPoolExecutor(max_workers=_COPIERS, thread_name_prefix="callvault-restore") as pool:
        futures = [pool.submit(copy, key) for key in todo]
        for future in as_completed(futures):
            done += 1
            step("objects", done, total)
            try:
                failed = future.result()
            except FileNotFoundError:
                failed = "?"
            if failed is not None:
                bad.append(failed)
    if bad:
        raise BackupError(
            f"{len(bad)} object(s) of backup {manifest.set_id} are missing or changed (first: "
            f"{sorted(bad)[0]}); run `callvault backup verify` to list them. The restore "
            "is not finished; the vault stays closed"
        )
    return total


def restore_backup(
    config: Config,
    source: str | None = None,
    *,
    set_id: str | None = None,
    ledger_from: Sequence[str] = (),
    progress: Progress | None = None,
) -> RestoreResult:
    """Restore `set_id` (else the newest complete set) of `source` into the empty data
    directory and database of `config`; see the module's text."""
    started = time.monotonic()
    step = progress_or_quiet(progress)
    target = target_of(config, source)
    if set_id is None:
        complete = [s for s in list_sets(target) if s.complete]
        if not complete:
            raise BackupError(f"there is no complete backup in {mask_url(target.url)}")
        set_id = complete[-1].set_id
    manifest = read_manifest(target, set_id)
    public_key = _check_signed(manifest)
    state = {"set": set_id, "source": mask_url(target.url), "stage": "keys"}
    marker = _marker(config)
    resumed = marker.exists()
    if resumed:
        found = json.loads(marker.read_text())
        if (found.get("set"), found.get("source")) != (state["set"], state["source"]):
            raise RestoreRefused(
                f"an unfinished restore of backup {found.get('set')} is in {config.data_dir}; "
                "finish it (run it again) or start over in an empty data directory"
            )
        state = found
    else:
        _refuse_unless_empty(config)
    # Opened before anything is written: a wrong key leaves the target untouched.
    bundle = open_key_bundle(target, manifest, config)
    done = _STAGES.index(str(state["stage"]))
    DataPaths(config.data_dir).root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_marker(config, state)
    if done <= 0:
        install_key_files(DataPaths(config.data_dir).keyring.parent, bundle["files"])
        _write_marker(config, {**state, "stage": "database"})
    if done <= 1:
        step("database", 0, 1)
        spool = DataPaths(config.data_dir).spool
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="restore-", dir=spool))
        try:
            plain = work / "database.dump"
            decrypt_file(
                target,
                set_file(set_id, DATABASE_FILE),
                bundle["backup_key"],
                file_aad(set_id, DATABASE_FILE),
                plain,
                work,
            )
            if file_sha256(plain) != manifest.body["database"]["plain_sha256"]:
                raise BackupError(
                    f"backup {set_id}: the database dump decrypts, but not to the dump the "
                    "manifest names; nothing was loaded"
                )
            load_database(
                config.effective_database_url, plain, str(manifest.body["database"]["kind"])
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _write_marker(config, {**state, "stage": "objects"})
        step("database", 1, 1)
    objects = _restore_objects(config, target, manifest, step)
    _write_marker(config, {**state, "stage": "replay"})
    ledger = gather_ledger(config, target, manifest, public_key, ledger_from)
    vault, _created = Vault.init(config, restoring=True)
    with vault:
        ctx = Context(config=config, vault=vault)
        head, _hash = vault.ledger.head()
        newer = [entry for entry in ledger if entry.seq > head]
        step("replay", 0, len(newer))
        report = replay_erasures(ctx, newer)
        step("replay", len(newer), len(newer))
        calls = vault.calls.count_calls()
        if vault.store.has_object_lock():
            # The store's own object lock (legal holds, duty retention) as the rows say.
            vault.holds.protect_calls([c.id for c in vault.calls.list_calls()])
        vault.record_event(
            "backup.restore",
            "backup",
            set_id,
            details={
                "source": mask_url(target.url),
                "ledger_entries": len(ledger),
                "replayed": len(newer),
                "resumed": resumed,
            },
        )
        audit = vault.verify_audit()
    marker.unlink()
    return RestoreResult(
        set_id=set_id,
        source=mask_url(target.url),
        calls=calls,
        objects=objects,
        ledger_entries=len(ledger),
        replayed=len(newer),
        replay=report.to_json(),
        audit_ok=audit.ok,
        resumed=resumed,
        seconds=time.monotonic() - started,
    )
