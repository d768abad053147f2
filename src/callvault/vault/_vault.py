"""The vault: the only way recordings are stored, read, verified and destroyed."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from callvault.backup import copy_ledger_entries, open_target
from callvault.config import Config, mask_url
from callvault.errors import ConfigError, KeyDestroyed
from callvault.vault import _anchor, _audit, _callsig, _keyfiles, _ledger
from callvault.vault._adapters import open_blob_store
from callvault.vault._anchor import AnchorFault, Checkpoint
from callvault.vault._artifacts import ArtifactRepository
from callvault.vault._audit import AuditEntry, AuditReport
from callvault.vault._calls import CallRepository, no_such_call
from callvault.vault._consent import ConsentRepository
from callvault.vault._crypto import (
    KeyRing,
    SealedBlob,
    Signer,
    unwrap_data_key,
    wrap_data_key,
)
from callvault.vault._db import create_db_engine, migrate
from callvault.vault._fs import private_dir, tighten_data_dir
from callvault.vault._holds import HoldRepository
from callvault.vault._ledger import LedgerRepository
from callvault.vault._live import LiveRepository
from callvault.vault._models import (
    ArtifactRow,
    CallRow,
    DataKeyRow,
    RecordingRow,
    RefusalRow,
    TranscriptRow,
)
from callvault.vault._outcomes import OutcomeRepository
from callvault.vault._records import GarbageReport, RotationResult
from callvault.vault._refusals import RefusalRepository
from callvault.vault._rewrite import RewriteRepository
from callvault.vault._rights import CorrectionRepository, RestrictionRepository
from callvault.vault._spool import EncryptedSpool
from callvault.vault._store import BlobLocked, BlobStore, BlobWrite
from callvault.vault._transcripts import TranscriptRepository
from callvault.vault._unit import Transaction, seal_blob, unit_of_work

__all__ = ["DataPaths", "Vault"]

log = logging.getLogger("callvault.vault")


@dataclass(frozen=True)
class DataPaths:
    """Where the embedded vault keeps its files."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "callvault.db"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def keyring(self) -> Path:
        return self.root / "keys" / "kek"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "signing.key"

    @property
    def spool(self) -> Path:
        return self.root / "spool"


def _make_private(paths: DataPaths) -> None:
    """Tighten a data directory that a loose umask or a copy left readable by others
    (issue 17): a warning says what changed; a directory callvault may not chmod (another
    owner's) stops it with the fix."""
    database = paths.database
    journal = [database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal")]
    try:
        changed = tighten_data_dir(
            paths.root, (paths.blobs, paths.keyring.parent), (database, *journal)
        )
    except PermissionError as exc:
        raise ConfigError(
            f"the data directory {paths.root} is readable by other users and cannot be "
            f"made private ({exc.strerror}); run `chmod -R go-rwx {paths.root}` as its owner, "
            "or set CALLVAULT_DATA_DIR to a directory of yours"
        ) from None
    for path, old in changed:
        log.warning("%s was mode %04o; made it private (group and others removed)", path, old)


class Vault:
    """The storage core: metadata database + encrypted blob store + key ring + signer +
    audit chain, and one unit of work over them (`transaction`).

    What it stores is reached through its repositories, one per aggregate: `calls`
    (calls and recordings), `transcripts` (transcripts), `artifacts` (insights and kept
    originals), `rewrites` (audio rewritten under a new key, withdrawals during a call),
    `holds` (legal holds, retention, erasure checks), `consent` (consent records and
    quarantine), `restrictions` (GDPR art. 18), `corrections` (GDPR art. 16) and
    `refusals` (spoken refusals found by processing, their quarantined audio).
    quarantine), `restrictions` (GDPR art. 18), `corrections` (GDPR art. 16) and `live`
    (the live board of calls in progress), `ledger` (the erasure ledger, replayed at
    restore).
    """

    def __init__(
        self, config: Config, engine: Engine, store: BlobStore, keyring: KeyRing, signer: Signer
    ) -> None:
        self.config = config
        self.engine = engine
        self._writer = engine.execution_options(callvault_write=True)
        self.store = store
        # Whether `Vault.init` created the blobs directory or bucket (for `callvault init`).
        self.store_created = False
        self.keyring = keyring
        self.signer = signer
        # The newest erasure ledger entry copied to each place, by this process.
        self._mirrored: dict[str, int] = {}
        self.calls = CallRepository(self)
        self.transcripts = TranscriptRepository(self)
        self.artifacts = ArtifactRepository(self)
        self.rewrites = RewriteRepository(self)
        self.holds = HoldRepository(self)
        self.consent = ConsentRepository(self)
        self.restrictions = RestrictionRepository(self)
        self.corrections = CorrectionRepository(self)
        self.refusals = RefusalRepository(self)
        self.outcomes = OutcomeRepository(self)
        self.live = LiveRepository(self)
        self.ledger = LedgerRepository(self)

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def init(cls, config: Config, *, restoring: bool = False) -> tuple[Vault, bool]:
        """Create the data directory, keys and schema where missing; return (vault, created).

        Refused while a restore into this data directory has not finished replaying the
        erasure ledger (issue 21); `restoring` is the restore's own way in."""
        paths = DataPaths(config.data_dir)
        if not restoring and _keyfiles.restoring(paths.root):
            raise ConfigError(
                f"a restore into {paths.root} has not finished (erasures may not yet be "
                "replayed); run `callvault restore` again, or remove the data directory"
            )
        created = False
        store = open_blob_store(config)
        try:
            for directory in (paths.root, paths.keyring.parent):
                private_dir(directory)
            # The blobs directory, or the bucket of an object store (with object lock
            # when CALLVAULT_S3_OBJECT_LOCK asks for it), when missing.
            store_created = store.ensure_ready(object_lock=config.s3_object_lock != "off")
            if not config.database_url and not paths.database.exists():
                # SQLite gives its -wal and -shm files the mode of the database file.
                os.close(os.open(paths.database, os.O_WRONLY | os.O_CREAT, 0o600))
            keyring = KeyRing(paths.keyring)
            if not keyring.exists():
                keyring.set_current(keyring.create_key())
                created = True
            # The search index's secret, made once with the rest of the key ring.
            keyring.search_key()
            if not paths.signing_key.exists():
                Signer.create(paths.signing_key)
                created = True
        except PermissionError as exc:
            raise ConfigError(
                f"cannot create the data directory {paths.root}: {exc.strerror}; set "
                "CALLVAULT_DATA_DIR to a writable directory"
            ) from None
        _make_private(paths)
        vault = cls._open(config, paths, store)
        vault.store_created = store_created
        return vault, created

    @classmethod
    def open(cls, config: Config) -> Vault:
        """Open the vault, initialising it on first use."""
        return cls.init(config)[0]

    @classmethod
    def _open(cls, config: Config, paths: DataPaths, store: BlobStore) -> Vault:
        engine = create_db_engine(config.effective_database_url)
        migrate(engine)
        vault = cls(
            config,
            engine,
            store,
            KeyRing(paths.keyring),
            Signer.load(paths.signing_key),
        )
        # Calls stored before migration 0014 get their metadata signed, once: looked for
        # with a read, so that an open with nothing to sign takes no write lock.
        with vault._read() as session:
            pending = _callsig.has_pending(session)
        if pending:
            with vault._write() as session:
                signed = _callsig.sign_pending(session, vault.signer, actor=config.actor)
            if signed:
                log.info("signed the metadata of %d call(s) stored before 0014", len(signed))
        return vault

    def close(self) -> None:
        self.engine.dispose()

    @property
    def search_key(self) -> bytes:
        """The search index's secret (`KeyRing.search_key`): for `callvault.search`."""
        return self.keyring.search_key()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            # Whatever this transaction changes of who may read a call is signed again
            # before it commits (issue 17).
            _callsig.track(session, self.signer)
            yield session
            # The audit chain's head is locked by the last statement before COMMIT, for
            # the time of one append, not for the whole transaction (issue 19).
            _callsig.sign_changed(session)
            # The erasure ledger's head before the audit chain's, in every transaction
            # (a replay locks it early), so two writers never wait on each other.
            erasures = _ledger.append_deferred(session)
            _audit.append_deferred(session)
        if erasures:
            # Committed: copied at once to the places apart from the data (issue 21).
            self.mirror_ledger(quiet=True)

    def ledger_places(self) -> list[str]:
        """Where the erasure ledger is copied: CALLVAULT_ERASURE_LEDGER_TO and the backup
        location (its `ledger/`), those that are set."""
        places = (self.config.erasure_ledger_to, self.config.backup_to)
        return list(dict.fromkeys(p for p in places if p))

    def mirror_ledger(self, *, quiet: bool = False) -> int:
        """Copy the erasure ledger's entries that `ledger_places` lack; returns how many
        were written. `quiet`: a place that cannot be reached is logged, not raised (an
        erasure has committed; the periodic `ledger.mirror` job and every backup retry)."""
        written = 0
        for place in self.ledger_places():
            seen = self._mirrored.get(place, 0)
            try:
                target = open_target(
                    place,
                    s3_endpoint_url=self.config.s3_endpoint_url,
                    s3_region=self.config.s3_region,
                )
                entries = self.ledger.entries(after_seq=seen)
                documents = [
                    (e.seq, json.dumps(e.to_json(), sort_keys=True).encode() + b"\n")
                    for e in entries
                ]
                written += copy_ledger_entries(target, documents)
            except Exception as exc:
                if not quiet:
                    raise
                log.warning(
                    "the erasure ledger could not be copied to %s (%s); the periodic copy "
                    "and the next backup retry",
                    mask_url(place),
                    type(exc).__name__,
                )
                continue
            if entries:
                self._mirrored[place] = entries[-1].seq
        return written

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def transaction(
        self, *, actor: str | None = None, purpose: str | None = None
    ) -> AbstractContextManager[Transaction]:
        """One unit of work (`Transaction`): rows, audit entries and blob writes that
        commit together, blobs in place before the rows, replaced blobs deleted after."""
        return unit_of_work(
            self._write,
            store=self.store,
            signer=self.signer,
            chunk_size=self.config.chunk_size,
            actor=actor or self.config.actor,
            purpose=purpose,
        )

    def reading(self) -> AbstractContextManager[Session]:
        """A read-only session (nothing it changes is committed)."""
        return self._read()

    def _record(
        self,
        session: Session,
        action: str,
        object_type: str,
        object_id: str | None,
        *,
        actor: str | None = None,
        purpose: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        _audit.defer(
            session,
            self.signer,
            _audit.Entry(
                action,
                object_type,
                object_id,
                purpose=purpose,
                details=details,
                actor=actor or self.config.actor,
            ),
        )

    def record_event(
        self,
        action: str,
        object_type: str,
        object_id: str | None,
        *,
        purpose: str | None = None,
        details: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Append an audit entry for an access made outside the vault (a search, say)."""
        with self._write() as session:
            self._record(
                session,
                action,
                object_type,
                object_id,
                actor=actor,
                purpose=purpose,
                details=details,
            )

    def _checkpoint(self) -> None:
        """Flush SQLite's write-ahead log so overwritten rows leave no copy behind."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- storing -----------------------------------------------------------------------

    def _seal(
        self, key: str, dek: bytes, object_id: str, source: BinaryIO
    ) -> tuple[BlobWrite, SealedBlob]:
        """Encrypt `source` into a new, not yet committed blob `key` (`seal_blob`)."""
        return seal_blob(self.store, key, dek, object_id, source, self.config.chunk_size)

    # -- reading -----------------------------------------------------------------------

    def _call_row(self, session: Session, call_id: str) -> CallRow:
        call = session.get(CallRow, call_id)
        if call is None:
            raise no_such_call(call_id)
        return call

    def _recording_row(self, session: Session, call_id: str) -> RecordingRow:
        row = session.scalars(select(RecordingRow).where(RecordingRow.call_id == call_id)).first()
        if row is None:
            raise no_such_call(call_id)
        return row

    def _data_key(self, session: Session, recording: RecordingRow | str) -> bytes:
        rid = recording if isinstance(recording, str) else recording.id
        key = session.get(DataKeyRow, rid)
        if key is None:
            raise KeyDestroyed(f"recording {rid}: its data key was destroyed; the audio is erased")
        return unwrap_data_key(self.keyring.key(key.kek_id), key.kek_id, rid, key.wrapped)

    def new_spool(self) -> EncryptedSpool:
        """An encrypted spool in the data directory for a recording being received (an
        upload): plaintext never reaches the system temporary directory."""
        return EncryptedSpool(DataPaths(self.config.data_dir).spool, self.config.chunk_size)

    # -- keys --------------------------------------------------------------------------

    def rotate_keys(self, *, actor: str | None = None) -> RotationResult:
        """Re-wrap every data key under a new key-encryption key; audio is not re-encrypted."""
        new_id = self.keyring.create_key()
        new_key = self.keyring.key(new_id)
        old_ids = [k for k in self.keyring.key_ids() if k != new_id]
        with self._write() as session:
            count = 0
            for row in session.scalars(select(DataKeyRow)):
                dek = unwrap_data_key(
                    self.keyring.key(row.kek_id), row.kek_id, row.recording_id, row.wrapped
                )
                row.wrapped = wrap_data_key(new_key, new_id, row.recording_id, dek)
                row.kek_id = new_id
                count += 1
            count += self.refusals.rewrap(session, new_key, new_id)
            count += self.outcomes.rewrap(session, new_key, new_id)
            self._record(
                session,
                "keys.rotate",
                "keyring",
                new_id,
                actor=actor,
                details={"rewrapped": count, "retired": old_ids},
            )
            # The old keys are destroyed after this commits; a restored older backup
            # still holding one destroys it again (issue 21).
            for old in old_ids:
                _ledger.defer(session, self.signer, "kek", {"kek_id": old})
        self.keyring.set_current(new_id)
        for old in old_ids:
            self.keyring.destroy(old)
        self._checkpoint()
        return RotationResult(new_id, count, tuple(old_ids))

    # -- audit -------------------------------------------------------------------------

    def audit_entries(
        self, *, object_id: str | None = None, action: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        with self._read() as session:
            entries = list(_audit.iter_entries(session, object_id=object_id, action=action))
        return entries[-limit:] if limit else entries

    def audit_page(
        self,
        *,
        limit: int,
        offset: int = 0,
        object_id: str | None = None,
        action: str | None = None,
    ) -> tuple[list[AuditEntry], int]:
        """Entries newest first, `limit` from `offset`, and the number that match."""
        with self._read() as session:
            return _audit.newest_entries(
                session, limit=limit, offset=offset, object_id=object_id, action=action
            )

    def audit_entries_about(self, object_ids: Iterable[str]) -> list[AuditEntry]:
        """Audit entries whose object is one of `object_ids`, oldest first (not audited)."""
        entries: list[AuditEntry] = []
        with self._read() as session:
            for object_id in sorted(set(object_ids)):
                entries.extend(_audit.iter_entries(session, object_id=object_id))
        return sorted(entries, key=lambda e: e.seq)

    def verify_audit(self) -> AuditReport:
        with self._read() as session:
            return _audit.verify(session, self.signer)

    def audit_checkpoint(self) -> Checkpoint:
        """The chain's head now, signed as a checkpoint to anchor elsewhere (issue 21)."""
        with self._read() as session:
            return _anchor.make_checkpoint(session, self.signer)

    def check_anchors(self, checkpoints: Sequence[Checkpoint]) -> list[AnchorFault]:
        """Where the chain no longer extends `checkpoints`, and the chain's own faults."""
        with self._read() as session:
            return _anchor.check_anchors(session, checkpoints, self.signer)

    # -- housekeeping ------------------------------------------------------------------

    def collect_garbage(self, *, dry_run: bool = False, min_age_s: float = 3600) -> GarbageReport:
        """Remove leftovers of interrupted writes: unfinished writes and blobs no row names.

        A blob is moved into place just before its rows commit, so only orphans older
        than `min_age_s` are taken: a younger one may belong to an ingest in progress.
        """
        incomplete = 0 if dry_run else self.store.sweep_incomplete()
        with self._read() as session:
            known = set(session.scalars(select(RecordingRow.blob_key)))
            known |= set(session.scalars(select(TranscriptRow.blob_key)))
            known |= set(session.scalars(select(ArtifactRow.blob_key)))
            known |= {
                key for key in session.scalars(select(RefusalRow.quarantine_key)) if key is not None
            }
        cutoff = time.time() - min_age_s
        orphans = tuple(
            key
            for key in self.store.iter_keys()
            if key not in known and self.store.modified_at(key) <= cutoff
        )
        if not dry_run:
            kept = set()
            for key in orphans:
                try:
                    self.store.delete(key)
                except BlobLocked:
                    # Object lock (a rewrite of a held call left it): keyless, and
                    # removed by a later run once the lock has ended.
                    log.warning("orphaned blob %s is under object lock; kept for now", key)
                    kept.add(key)
            orphans = tuple(key for key in orphans if key not in kept)
        return GarbageReport(incomplete, orphans)

    def database_kind(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
