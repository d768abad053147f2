"""The vault: the only way recordings are stored, read, verified and destroyed."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, delete, false, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from callvault.capture import CapturedCall
from callvault.config import Config
from callvault.errors import (
    ConfigError,
    ErasureRefused,
    IntegrityError,
    KeyDestroyed,
    NotFound,
)
from callvault.jobs._records import ACTIVE, call_gone_values
from callvault.vault import _audit, _callsig, _governance
from callvault.vault._adapters import open_blob_store
from callvault.vault._artifacts import (
    INSIGHTS,
    ArtifactOps,
    artifact_object,
    put_artifact,
)
from callvault.vault._audit import AuditEntry, AuditReport
from callvault.vault._crypto import (
    BlobEncryptor,
    BlobReader,
    KeyRing,
    SealedBlob,
    Signer,
    new_data_key,
    seal_stream,
    unwrap_data_key,
    wrap_data_key,
)
from callvault.vault._db import create_db_engine, migrate
from callvault.vault._fs import private_dir, tighten_data_dir
from callvault.vault._governance import Admission, ErasureCertificate, GovernanceOps
from callvault.vault._manifest import Manifest
from callvault.vault._models import (
    ArtifactRow,
    Base,
    CallRow,
    DataKeyRow,
    LegalHoldRow,
    LegRow,
    ManifestRow,
    ParticipantRow,
    RecordingRow,
    TranscriptRow,
)
from callvault.vault._records import (
    CallRecord,
    CallSummary,
    GarbageReport,
    LegRecord,
    ParticipantRecord,
    RecordingRecord,
    RotationResult,
    StoreResult,
    TranscriptInfo,
    VerifyResult,
    network_json,
)
from callvault.vault._rewrite import RewriteOps
from callvault.vault._rights import RightsOps
from callvault.vault._spool import EncryptedSpool
from callvault.vault._store import BlobStore, BlobWrite
from callvault.vault._unit import Transaction, unit_of_work
from callvault.vault._verify import check_blob, check_manifest

__all__ = ["DataPaths", "Vault"]

log = logging.getLogger("callvault.vault")

_READ_SIZE = 1 << 20


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


def _transcript_object(recording_id: str) -> str:
    # Bound into the transcript blob's associated data: a transcript blob cannot pass for
    # the audio of the same recording, or the other way round.
    return f"{recording_id}/transcript"


def _no_such_call(call_id: str) -> NotFound:
    return NotFound(f"call {call_id} does not exist; `callvault list` shows the calls")


def _new_id() -> str:
    return uuid.uuid4().hex


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`values` in slices short enough for one SQL IN list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)


def _call_conditions(
    agents: Sequence[str] | None,
    direction: str | None,
    language: str | None,
    consent_state: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[Any]:
    conditions: list[Any] = []
    if agents is not None:
        conditions.append(CallRow.agent.in_(list(agents)) if agents else false())
    if direction is not None:
        conditions.append(CallRow.direction == direction)
    if language is not None:
        conditions.append(CallRow.language == language)
    if consent_state is not None:
        conditions.append(CallRow.consent_state == consent_state)
    if since is not None:
        conditions.append(CallRow.started_at >= since)
    if until is not None:
        conditions.append(CallRow.started_at < until)
    return conditions


class Vault(GovernanceOps, RightsOps, RewriteOps, ArtifactOps):
    """Metadata database + encrypted blob store + key ring + signer + audit chain.

    Legal holds, retention dates and consent records: see `GovernanceOps`.
    """

    def __init__(
        self, config: Config, engine: Engine, store: BlobStore, keyring: KeyRing, signer: Signer
    ) -> None:
        self.config = config
        self.engine = engine
        self._writer = engine.execution_options(callvault_write=True)
        self.store = store
        self.keyring = keyring
        self.signer = signer

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def init(cls, config: Config) -> tuple[Vault, bool]:
        """Create the data directory, keys and schema where missing; return (vault, created)."""
        paths = DataPaths(config.data_dir)
        created = False
        try:
            for directory in (paths.root, paths.blobs, paths.keyring.parent):
                private_dir(directory)
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
        vault = cls._open(config, paths)
        return vault, created

    @classmethod
    def open(cls, config: Config) -> Vault:
        """Open the vault, initialising it on first use."""
        return cls.init(config)[0]

    @classmethod
    def _open(cls, config: Config, paths: DataPaths) -> Vault:
        engine = create_db_engine(config.effective_database_url)
        migrate(engine)
        vault = cls(
            config,
            engine,
            open_blob_store(config),
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
        _audit.append(
            session,
            self.signer,
            actor=actor or self.config.actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            purpose=purpose,
            details=details,
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

    def store_call(
        self,
        call: CapturedCall,
        *,
        actor: str | None = None,
        admission: Admission | None = None,
    ) -> StoreResult:
        """Encrypt and store one captured call; the same bytes twice give the same call.

        `admission` (what the policy gate decided) is carried out in the transaction that
        stores a new call; a duplicate keeps what its first ingest was given.
        """
        recording_id, call_id = _new_id(), _new_id()
        dek = new_data_key()
        with call.open_audio() as source:
            write, sealed = self._seal(recording_id, dek, recording_id, source)
        if sealed.size != call.size:
            write.abort()
            raise IntegrityError(
                f"{call.source_name}: the file changed while it was read ({call.size} bytes "
                f"expected, {sealed.size} read); ingest it again"
            )
        try:
            return self._commit_call(
                call, call_id, recording_id, dek, sealed, write, actor, admission
            )
        except DBIntegrityError:
            # Another process stored the same bytes between our check and our commit.
            write.abort()
            self.store.delete(recording_id)
            existing = self._find_by_sha256(sealed.sha256)
            if existing is None:
                raise
            return existing
        except BaseException:
            # Nothing was committed (a decision that could not be carried out, a lost
            # database): the ciphertext, in place or not, has no key and must go too.
            write.abort()
            self.store.delete(recording_id)
            raise

    def _seal(
        self, key: str, dek: bytes, object_id: str, source: BinaryIO
    ) -> tuple[BlobWrite, SealedBlob]:
        """Encrypt `source` into a new, not yet committed blob `key`; abort it on failure."""
        write = self.store.begin_write(key)
        try:
            encryptor = BlobEncryptor(dek, object_id, self.config.chunk_size)
            return write, seal_stream(source, encryptor, write.write, read_size=_READ_SIZE)
        except BaseException:
            write.abort()
            raise

    def _find_by_sha256(self, sha256: str) -> StoreResult | None:
        with self._read() as session:
            row = session.scalars(
                select(RecordingRow).where(
                    or_(RecordingRow.sha256 == sha256, RecordingRow.source_sha256 == sha256)
                )
            ).first()
            return StoreResult(row.call_id, row.id, duplicate=True) if row else None

    def _commit_call(
        self,
        call: CapturedCall,
        call_id: str,
        recording_id: str,
        dek: bytes,
        sealed: SealedBlob,
        write: BlobWrite,
        actor: str | None,
        admission: Admission | None,
    ) -> StoreResult:
        sha256, cipher_sha256, cipher_size = (
            sealed.sha256,
            sealed.ciphertext_sha256,
            sealed.ciphertext_size,
        )
        with self._write() as session:
            existing = session.scalars(
                select(RecordingRow).where(
                    or_(RecordingRow.sha256 == sha256, RecordingRow.source_sha256 == sha256)
                )
            ).first()
            if existing is not None:
                write.abort()
                self._record(
                    session,
                    "call.ingest",
                    "call",
                    existing.call_id,
                    actor=actor,
                    details={"recording_id": existing.id, "duplicate": True},
                )
                return StoreResult(existing.call_id, existing.id, duplicate=True)
            now = _now()
            kek_id = self.keyring.current_id()
            wrapped = wrap_data_key(self.keyring.key(kek_id), kek_id, recording_id, dek)
            meta = call.metadata
            call_row = CallRow(
                id=call_id,
                direction=meta.direction,
                agent=meta.agent,
                started_at=meta.started_at,
                language=meta.language,
                created_at=now,
                source=call.network.source if call.network else "file",
                network=network_json(call.network) if call.network else None,
            )
            session.add(call_row)
            audio = call.audio
            recording = RecordingRow(
                id=recording_id,
                call_id=call_id,
                sha256=sha256,
                size_bytes=sealed.size,
                container=audio.container,
                codec=audio.codec,
                sample_rate=audio.sample_rate,
                channels=audio.channels,
                frames=audio.frames,
                blob_key=recording_id,
                ciphertext_sha256=cipher_sha256,
                ciphertext_size=cipher_size,
                chunk_size=self.config.chunk_size,
                created_at=now,
            )
            session.add(recording)
            session.flush()
            session.add(
                DataKeyRow(
                    recording_id=recording_id, kek_id=kek_id, wrapped=wrapped, created_at=now
                )
            )
            by_channel: dict[int, str] = {}
            for position, party in enumerate(call.participants):
                participant_id = _new_id()
                session.add(
                    ParticipantRow(
                        id=participant_id,
                        call_id=call_id,
                        position=position,
                        role=party.role,
                        phone=party.phone,
                        name=party.name,
                        is_agent=party.is_agent,
                    )
                )
                if party.channel is not None:
                    by_channel.setdefault(party.channel, participant_id)
            session.flush()
            facts = {leg.channel: leg for leg in call.network.legs} if call.network else {}
            for channel in range(audio.channels):
                leg_facts = facts.get(channel)
                session.add(
                    LegRow(
                        id=_new_id(),
                        call_id=call_id,
                        recording_id=recording_id,
                        channel=channel,
                        participant_id=by_channel.get(channel),
                        codec=leg_facts.codec if leg_facts else None,
                        quality=(
                            json.dumps(leg_facts.quality, sort_keys=True)
                            if leg_facts and leg_facts.quality is not None
                            else None
                        ),
                    )
                )
            manifest = Manifest.of_recording(
                recording, created_at=now.isoformat(), signing_key=self.signer.key_id
            )
            body = manifest.canonical()
            session.add(
                ManifestRow(
                    recording_id=recording_id,
                    body=body.decode(),
                    signature=self.signer.sign(body),
                    key_id=self.signer.key_id,
                )
            )
            self._record(
                session,
                "call.ingest",
                "call",
                call_id,
                actor=actor,
                details={"recording_id": recording_id, "sha256": sha256},
            )
            session.flush()
            if admission is not None:
                self._admit(session, call_row, admission, actor)
            # The ciphertext goes into place before the rows that point at it commit: a
            # crash in between leaves an unreadable orphan (its key was never stored),
            # never a row without its blob.
            write.commit()
        log.info("stored recording %s of call %s", recording_id, call_id)
        return StoreResult(call_id, recording_id, duplicate=False)

    # -- reading -----------------------------------------------------------------------

    def _call_row(self, session: Session, call_id: str) -> CallRow:
        call = session.get(CallRow, call_id)
        if call is None:
            raise _no_such_call(call_id)
        return call

    def _recording_row(self, session: Session, call_id: str) -> RecordingRow:
        row = session.scalars(select(RecordingRow).where(RecordingRow.call_id == call_id)).first()
        if row is None:
            raise _no_such_call(call_id)
        return row

    def _call_record(self, session: Session, call: CallRow) -> CallRecord:
        recording = self._recording_row(session, call.id)
        key = session.get(DataKeyRow, recording.id)
        manifest = session.get(ManifestRow, recording.id)
        participants = session.scalars(
            select(ParticipantRow)
            .where(ParticipantRow.call_id == call.id)
            .order_by(ParticipantRow.position)
        ).all()
        legs = session.scalars(
            select(LegRow).where(LegRow.call_id == call.id).order_by(LegRow.channel)
        ).all()
        return CallRecord(
            id=call.id,
            direction=call.direction,
            agent=call.agent,
            started_at=call.started_at,
            language=call.language,
            created_at=call.created_at,
            participants=tuple(
                ParticipantRecord(p.id, p.position, p.role, p.phone, p.name, p.is_agent)
                for p in participants
            ),
            legs=tuple(
                LegRecord(
                    leg.id,
                    leg.channel,
                    leg.participant_id,
                    leg.codec,
                    json.loads(leg.quality) if leg.quality else None,
                )
                for leg in legs
            ),
            recording=RecordingRecord(
                id=recording.id,
                sha256=recording.sha256,
                size_bytes=recording.size_bytes,
                container=recording.container,
                codec=recording.codec,
                sample_rate=recording.sample_rate,
                channels=recording.channels,
                frames=recording.frames,
                ciphertext_sha256=recording.ciphertext_sha256,
                chunk_size=recording.chunk_size,
                kek_id=key.kek_id if key else None,
                signing_key=manifest.key_id if manifest else None,
                created_at=recording.created_at,
            ),
            consent_state=call.consent_state,
            erasure_state=call.erasure_state,
            source=call.source,
            network=json.loads(call.network) if call.network else None,
        )

    def get_call(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> CallRecord:
        """One call with its participants, legs and recording; the read is audited."""
        with self._write() as session:
            call = self._call_row(session, call_id)
            record = self._call_record(session, call)
            self._record(session, "call.show", "call", call_id, actor=actor, purpose=purpose)
        return record

    def call_agent(self, call_id: str) -> str | None:
        """The agent (a username) of a call, for access decisions (not audited: ids only).
        NotFound when there is no such call."""
        with self._read() as session:
            return self._call_row(session, call_id).agent

    def list_calls(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        agents: Sequence[str] | None = None,
        direction: str | None = None,
        language: str | None = None,
        consent_state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[CallSummary]:
        """Calls, newest first, optionally filtered (`agents`: only calls of these agents,
        an empty list meaning none; `since`/`until` on the call's start); audited."""
        with self._write() as session:
            participants = (
                select(ParticipantRow.call_id, func.count().label("n"))
                .group_by(ParticipantRow.call_id)
                .subquery()
            )
            query = (
                select(CallRow, RecordingRow, participants.c.n)
                .join(RecordingRow, RecordingRow.call_id == CallRow.id)
                .outerjoin(participants, participants.c.call_id == CallRow.id)
                .order_by(CallRow.created_at.desc(), CallRow.id)
            )
            query = query.where(*_call_conditions(
                agents, direction, language, consent_state, since, until
            ))  # fmt: skip
            if limit is not None:
                query = query.limit(limit)
            if offset:
                query = query.offset(offset)
            summaries = [
                CallSummary(
                    id=call.id,
                    direction=call.direction,
                    agent=call.agent,
                    started_at=call.started_at,
                    language=call.language,
                    created_at=call.created_at,
                    duration_s=rec.frames / rec.sample_rate,
                    channels=rec.channels,
                    participants=int(n or 0),
                    consent_state=call.consent_state,
                    erasure_state=call.erasure_state,
                )
                for call, rec, n in session.execute(query)
            ]
            self._record(
                session,
                "call.list",
                "call",
                None,
                actor=actor,
                purpose=purpose,
                details={"count": len(summaries)},
            )
        return summaries

    def count_calls(
        self,
        *,
        agents: Sequence[str] | None = None,
        direction: str | None = None,
        language: str | None = None,
        consent_state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many calls `list_calls` with the same filters finds (not audited: a count)."""
        with self._read() as session:
            conditions = _call_conditions(agents, direction, language, consent_state, since, until)
            query = select(func.count()).select_from(CallRow).where(*conditions)
            return int(session.execute(query).scalar_one())

    def _data_key(self, session: Session, recording: RecordingRow | str) -> bytes:
        rid = recording if isinstance(recording, str) else recording.id
        key = session.get(DataKeyRow, rid)
        if key is None:
            raise KeyDestroyed(f"recording {rid}: its data key was destroyed; the audio is erased")
        return unwrap_data_key(self.keyring.key(key.kek_id), key.kek_id, rid, key.wrapped)

    @contextmanager
    def open_recording(
        self,
        call_id: str,
        *,
        action: str = "recording.read",
        actor: str | None = None,
        purpose: str | None = None,
    ) -> Iterator[BlobReader]:
        """Decrypting random access to a call's original audio; the access is audited first.

        Refused (Restricted, audited as `{action}.refused`) while a restriction of
        processing covers the call, unless `purpose` names an art. 18(2) ground first
        (`RESTRICTION_GROUNDS`, e.g. "legal-claim: case 42").
        """
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self._read_refusal(
                session, call_id, "recording", recording.id, action, actor=actor, purpose=purpose
            )
            if refused is None:
                dek = self._data_key(session, recording)
                self._record(
                    session,
                    action,
                    "recording",
                    recording.id,
                    actor=actor,
                    purpose=purpose,
                    details={"call_id": call_id},
                )
            blob_key, size = recording.blob_key, recording.ciphertext_size
        if refused is not None:
            raise refused  # after the commit: the refusal stays in the audit chain
        with self.store.open(blob_key) as handle:
            yield BlobReader(handle, size, dek, recording.id)

    def new_spool(self) -> EncryptedSpool:
        """An encrypted spool in the data directory for a recording being received (an
        upload): plaintext never reaches the system temporary directory."""
        return EncryptedSpool(DataPaths(self.config.data_dir).spool, self.config.chunk_size)

    def decrypt_blob(self, recording_id: str, ciphertext: bytes) -> bytes:
        """Decrypt a copy of a blob with the recording's stored data key (for proofs)."""
        with self._read() as session:
            dek = self._data_key(session, recording_id)
        reader = BlobReader(io.BytesIO(ciphertext), len(ciphertext), dek, recording_id)
        return b"".join(reader.iter_chunks())

    # -- transcripts -------------------------------------------------------------------

    def store_transcript(
        self,
        call_id: str,
        document: bytes,
        *,
        status: str,
        language: str | None,
        model_name: str,
        model_version: str,
        utterances: int,
        words: int,
        actor: str | None = None,
        within: Callable[[Session], object] | None = None,
        insights: tuple[bytes, Mapping[str, Any]] | None = None,
    ) -> str:
        """Encrypt a transcript under the recording's data key and make it the current one.

        `within` runs inside the same write transaction (the search index uses it), so
        the transcript and what is derived from it become visible together. `insights`
        (a document and its metadata) is stored with it as the recording's insights
        artifact; without it the stored insights stay as they are (a rectification of
        one utterance does not re-run the stages).

        The new blob is in place before the row that points at it commits, and the old
        blob is removed after: a reader sees the old or the new transcript, never half of
        one. Returns the recording id.
        """
        with self._read() as session:
            recording = self._recording_row(session, call_id)
            rid, dek = recording.id, self._data_key(session, recording)
        key = f"{rid}.t{secrets.token_hex(6)}"
        write, sealed = self._seal(key, dek, _transcript_object(rid), io.BytesIO(document))
        writes = [(write, key)]
        old_key: str | None = None
        old_keys: list[str] = []
        try:
            if insights is not None:
                i_key = f"{rid}.i{secrets.token_hex(6)}"
                i_write, i_sealed = self._seal(
                    i_key, dek, artifact_object(rid, INSIGHTS), io.BytesIO(insights[0])
                )
                writes.append((i_write, i_key))
            with self._write() as session:
                recording = self._recording_row(session, call_id)
                self._data_key(session, recording)  # erased meanwhile: refuse to store
                row = session.get(TranscriptRow, rid)
                if row is None:
                    row = TranscriptRow(recording_id=rid)
                    session.add(row)
                else:
                    old_key = row.blob_key
                row.status, row.language = status, language
                row.model_name, row.model_version = model_name, model_version
                row.blob_key = key
                row.ciphertext_sha256 = sealed.ciphertext_sha256
                row.ciphertext_size = sealed.ciphertext_size
                row.utterances, row.words = utterances, words
                row.created_at = _now()
                self._record(
                    session,
                    "transcript.store",
                    "recording",
                    rid,
                    actor=actor,
                    details={
                        "call_id": call_id,
                        "status": status,
                        "model": f"{model_name}@{model_version}",
                    },
                )
                if insights is not None:
                    stale = put_artifact(session, rid, INSIGHTS, i_key, i_sealed, insights[1])
                    if stale is not None:
                        old_keys.append(stale)
                session.flush()
                if within is not None:
                    within(session)
                for blob_write, _ in writes:
                    blob_write.commit()
        except BaseException:
            for blob_write, blob_key in writes:
                blob_write.abort()
                self.store.delete(blob_key)
            raise
        if old_key is not None:
            old_keys.append(old_key)
        for stale_key in old_keys:
            self.store.delete(stale_key)
        return rid

    def untranscribed_recordings(self) -> list[tuple[str, str]]:
        """(call id, recording id) of every recording without a transcript, oldest first,
        except those of quarantined calls (not audited: ids only)."""
        with self._read() as session:
            rows = session.execute(
                select(RecordingRow.call_id, RecordingRow.id)
                .join(CallRow, CallRow.id == RecordingRow.call_id)
                .outerjoin(TranscriptRow, TranscriptRow.recording_id == RecordingRow.id)
                .where(TranscriptRow.recording_id.is_(None), CallRow.consent_state != "quarantined")
                .order_by(RecordingRow.created_at, RecordingRow.id)
            ).all()
        return [(str(call_id), str(recording_id)) for call_id, recording_id in rows]

    def transcript_info(self, call_id: str) -> TranscriptInfo | None:
        """What is known about a call's transcript without reading it (not audited: no text)."""
        with self._read() as session:
            recording = self._recording_row(session, call_id)
            row = session.get(TranscriptRow, recording.id)
            if row is None:
                return None
            return TranscriptInfo(
                recording_id=row.recording_id,
                status=row.status,
                language=row.language,
                model_name=row.model_name,
                model_version=row.model_version,
                utterances=row.utterances,
                words=row.words,
                created_at=row.created_at,
            )

    def read_transcript(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> bytes | None:
        """The decrypted transcript document of a call, or None; the read is audited.
        Refused on a restricted call as `open_recording` refuses (`transcript.read.refused`)."""
        with self._write() as session:
            recording = self._recording_row(session, call_id)
            refused = self._read_refusal(
                session,
                call_id,
                "recording",
                recording.id,
                "transcript.read",
                actor=actor,
                purpose=purpose,
            )
            row = None if refused is not None else session.get(TranscriptRow, recording.id)
            if row is None and refused is None:
                return None
            if row is not None:
                dek = self._data_key(session, recording)
                self._record(
                    session,
                    "transcript.read",
                    "recording",
                    recording.id,
                    actor=actor,
                    purpose=purpose,
                    details={"call_id": call_id},
                )
                rid, key, size = recording.id, row.blob_key, row.ciphertext_size
        if refused is not None:
            raise refused  # after the commit: the refusal stays in the audit chain
        with self.store.open(key) as handle:
            reader = BlobReader(handle, size, dek, _transcript_object(rid))
            return b"".join(reader.iter_chunks())

    # -- verifying ---------------------------------------------------------------------

    def _verify_one(self, session: Session, recording: RecordingRow) -> VerifyResult:
        rid = recording.id
        faults = check_manifest(session, self.signer, recording)
        faults += check_blob(
            self.store,
            key=recording.blob_key,
            label=f"recording {rid}",
            object_id=rid,
            ciphertext_size=recording.ciphertext_size,
            ciphertext_sha256=recording.ciphertext_sha256,
            data_key=lambda: self._data_key(session, recording),
            plain_sha256=recording.sha256,
            plain_size=recording.size_bytes,
        )
        transcript = session.get(TranscriptRow, rid)
        if transcript is not None:
            faults += check_blob(
                self.store,
                key=transcript.blob_key,
                label=f"transcript of recording {rid}",
                object_id=_transcript_object(rid),
                ciphertext_size=transcript.ciphertext_size,
                ciphertext_sha256=transcript.ciphertext_sha256,
                data_key=lambda: self._data_key(session, recording),
            )
        for artifact in session.scalars(select(ArtifactRow).where(ArtifactRow.recording_id == rid)):
            faults += check_blob(
                self.store,
                key=artifact.blob_key,
                label=f"{artifact.kind} of recording {rid}",
                object_id=artifact_object(rid, artifact.kind),
                ciphertext_size=artifact.ciphertext_size,
                ciphertext_sha256=artifact.ciphertext_sha256,
                data_key=lambda: self._data_key(session, recording),
                plain_sha256=artifact.sha256,
                plain_size=artifact.size_bytes,
            )
        return VerifyResult(recording.call_id, rid, tuple(faults))

    def verify(self, call_id: str | None = None, *, actor: str | None = None) -> list[VerifyResult]:
        """Decrypt, re-hash and check the signatures of one call's recording, or of all."""
        with self._write() as session:
            if call_id is not None:
                recordings = [self._recording_row(session, call_id)]
            else:
                recordings = list(session.scalars(select(RecordingRow).order_by(RecordingRow.id)))
            results = [self._verify_one(session, rec) for rec in recordings]
            # Who may read each call (agent, participants, consent, retention, holds,
            # restrictions) is under signature too; its faults go with the call's first
            # recording.
            checked: set[str] = set()
            for n, result in enumerate(results):
                if result.call_id in checked:
                    continue
                checked.add(result.call_id)
                call = self._call_row(session, result.call_id)
                faults = _callsig.check(session, self.signer, call)
                if faults:
                    results[n] = VerifyResult(
                        result.call_id, result.recording_id, (*faults, *result.faults)
                    )
            self._record(
                session,
                "vault.verify",
                "call",
                call_id,
                actor=actor,
                details={"recordings": len(results), "faulty": sum(not r.ok for r in results)},
            )
        return results

    # -- destroying --------------------------------------------------------------------

    def delete_call(
        self,
        call_id: str,
        *,
        reason: str,
        actor: str | None = None,
        expired_by: datetime | None = None,
    ) -> ErasureCertificate:
        """Erase a call: destroy its data key (crypto-shredding), rows and ciphertext.

        Refused (ErasureRefused) while a legal hold applies, checked in the same
        transaction. With `expired_by` (retention does this) the call is erased only when
        its `retain_until` is at or before that time, and an erasure certificate is
        appended to the audit chain as `retention.erase`. Consent records of the call are
        kept, with their call id set to null: they prove the recording was lawful.
        """
        with self._write() as session:
            ([certificate], blob_keys) = self._erase_many(
                session, [call_id], reason, actor, expired_by=expired_by
            )
        for blob_key in blob_keys:
            self.store.delete(blob_key)
        self._checkpoint()
        return certificate

    def delete_calls(
        self, call_ids: Sequence[str], *, reason: str, actor: str | None = None
    ) -> list[ErasureCertificate]:
        """Erase several calls in one transaction, all or none (a hold on any of them
        refuses the whole request), each with its own `call.erase` entry; the write-ahead
        log is checkpointed once. For a data subject's erasure request."""
        with self._write() as session:
            certificates, blob_keys = self._erase_many(session, call_ids, reason, actor)
        for blob_key in blob_keys:
            self.store.delete(blob_key)
        self._checkpoint()
        return certificates

    def _refuse_any_kept(self, session: Session, call_ids: Sequence[str]) -> None:
        """Raise ErasureRefused for the first of `call_ids` under an active legal hold
        (on the call, or on a subject who is one of its participants) or restriction."""
        held = _governance.active_holds(session, call_ids)
        for call_id in call_ids:
            if call_id in held:
                _governance.refuse_if_held(
                    session, call_id, _governance.call_subjects(session, call_id)
                )
        restricted = self._restricted(session, call_ids)
        for call_id in call_ids:
            restriction_id = restricted.get(call_id)
            if restriction_id is not None:
                raise ErasureRefused(
                    f"call {call_id} is restricted by restriction {restriction_id} (GDPR art. "
                    f"18) and is kept until it is lifted (callvault rights lift "
                    f"{restriction_id} --reason ...); nothing was erased",
                    call_id=call_id,
                )

    def _erase_many(
        self,
        session: Session,
        call_ids: Sequence[str],
        reason: str,
        actor: str | None,
        *,
        expired_by: datetime | None = None,
    ) -> tuple[list[ErasureCertificate], list[str]]:
        """Erase calls within `session`, set-based (a few statements for the whole
        batch, so erasing a subject's thousand calls stays fast); returns a certificate
        per call and the blob keys to delete once the transaction has committed.

        Holds and restrictions are checked for all the calls before, and again once the
        audit chain's lock is held: a subject hold added meanwhile has committed (and is
        seen) or will come after this erasure. With `expired_by` every call must be due
        (`refuse_unless_expired`) and gets a `retention.erase` certificate entry.
        """
        ids = list(dict.fromkeys(call_ids))
        self._refuse_any_kept(session, ids)
        # The row locks make a concurrent retention change or hold on these calls wait.
        calls: dict[str, CallRow] = {}
        for chunk in _chunks(ids):
            locking = select(CallRow).where(CallRow.id.in_(chunk)).with_for_update()
            for call in session.scalars(locking.execution_options(populate_existing=True)):
                calls[call.id] = call
        for call_id in ids:
            if call_id not in calls:
                raise _no_such_call(call_id)
            if expired_by is not None:
                _governance.refuse_unless_expired(calls[call_id], expired_by)
        recordings: dict[str, list[RecordingRow]] = {call_id: [] for call_id in ids}
        for chunk in _chunks(ids):
            for recording in session.scalars(
                select(RecordingRow).where(RecordingRow.call_id.in_(chunk))
            ):
                recordings[recording.call_id].append(recording)
        rids = [r.id for rows in recordings.values() for r in rows]
        keys: dict[str, str] = {}
        transcripts: dict[str, TranscriptRow] = {}
        artifacts: dict[str, list[ArtifactRow]] = {}
        for chunk in _chunks(rids):
            found = session.execute(
                select(DataKeyRow.recording_id, DataKeyRow.kek_id).where(
                    DataKeyRow.recording_id.in_(chunk)
                )
            )
            keys.update((str(rid), str(kek)) for rid, kek in found)
            for transcript in session.scalars(
                select(TranscriptRow).where(TranscriptRow.recording_id.in_(chunk))
            ):
                transcripts[transcript.recording_id] = transcript
            for artifact in session.scalars(
                select(ArtifactRow).where(ArtifactRow.recording_id.in_(chunk))
            ):
                artifacts.setdefault(artifact.recording_id, []).append(artifact)
        now = _now()
        certificates = [
            _governance.erasure_certificate(
                calls[i], recordings[i], now, keys, transcripts, artifacts
            )
            for i in ids
        ]
        blob_keys = [b.key for c in certificates for b in c.blobs]
        # Set-based deletes, children first; the data keys go first of all. Consents
        # keep their rows (the foreign key sets call_id to null), corrections go with
        # their recording (ON DELETE CASCADE). Only released holds can be left here.
        for chunk in _chunks(rids):
            for model in (DataKeyRow, ManifestRow, TranscriptRow, ArtifactRow):
                session.execute(delete(model).where(model.recording_id.in_(chunk)))
        for chunk in _chunks(ids):
            session.execute(delete(LegalHoldRow).where(LegalHoldRow.call_id.in_(chunk)))
            for child in (LegRow, RecordingRow, ParticipantRow):
                session.execute(delete(child).where(child.call_id.in_(chunk)))
            session.execute(delete(CallRow).where(CallRow.id.in_(chunk)))
            # Work queued for these calls goes with them, in this transaction: a worker
            # running one loses its lease and drops its result (issue 17).
            # callvault.jobs declares the table; importing jobs._records loaded it.
            jobs = Base.metadata.tables["jobs"]
            session.execute(
                update(jobs)
                .where(jobs.c.call_id.in_(chunk), jobs.c.status.in_(ACTIVE))
                .values(**call_gone_values(now))
            )
        entries = [
            _audit.Entry(
                "call.erase",
                "call",
                c.call_id,
                purpose=reason,
                details={"recordings": list(c.recording_ids), "method": "crypto-shredding"},
            )
            for c in certificates
        ]
        if expired_by is not None:
            entries += [
                _audit.Entry("retention.erase", "call", c.call_id, reason, c.to_json())
                for c in certificates
            ]
        _audit.append_many(session, self.signer, actor=actor or self.config.actor, entries=entries)
        self._refuse_any_kept(session, ids)
        return certificates, blob_keys

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
            self._record(
                session,
                "keys.rotate",
                "keyring",
                new_id,
                actor=actor,
                details={"rewrapped": count, "retired": old_ids},
            )
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

    def verify_audit(self) -> AuditReport:
        with self._read() as session:
            return _audit.verify(session, self.signer)

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
        cutoff = time.time() - min_age_s
        orphans = tuple(
            key
            for key in self.store.iter_keys()
            if key not in known and self.store.modified_at(key) <= cutoff
        )
        if not dry_run:
            for key in orphans:
                self.store.delete(key)
        return GarbageReport(incomplete, orphans)

    def database_kind(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
