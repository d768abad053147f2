"""What every repository of the storage core shares: the core it belongs to.

A repository holds the rows of one aggregate (calls, transcripts, holds, ...) and reaches
the core's sessions, keys, blob store and audit chain through `self.vault`; it has no
state of its own (STYLE rule 14: a core plus small parts). Write methods take an optional
`tx`: given, they join the caller's unit of work; otherwise they open their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callvault.config import Config
    from callvault.vault._crypto import KeyRing, SealedBlob, Signer
    from callvault.vault._models import CallRow, RecordingRow
    from callvault.vault._store import BlobStore, BlobWrite
    from callvault.vault._unit import Transaction
    from callvault.vault._vault import Vault

__all__ = ["Repository"]


class Repository:
    """A part of the storage core, reached as an attribute of it (`vault.calls`)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    @property
    def config(self) -> Config:
        return self.vault.config

    @property
    def store(self) -> BlobStore:
        return self.vault.store

    @property
    def keyring(self) -> KeyRing:
        return self.vault.keyring

    @property
    def signer(self) -> Signer:
        return self.vault.signer

    def _write(self) -> AbstractContextManager[Session]:
        return self.vault._write()

    def _read(self) -> AbstractContextManager[Session]:
        return self.vault._read()

    @contextmanager
    def _unit(
        self, tx: Transaction | None, *, actor: str | None = None, purpose: str | None = None
    ) -> Iterator[Transaction]:
        """`tx` when the caller gives one (its unit of work), else a new one."""
        if tx is not None:
            yield tx
            return
        with self.vault.transaction(actor=actor, purpose=purpose) as own:
            yield own

    @contextmanager
    def _writing(self, tx: Transaction | None) -> Iterator[Session]:
        """The session of `tx` when the caller gives one, else of a new unit of work."""
        if tx is not None:
            yield tx.session
            return
        with self.vault.transaction() as own:
            yield own.session

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
        self.vault._record(
            session,
            action,
            object_type,
            object_id,
            actor=actor,
            purpose=purpose,
            details=details,
        )

    def _call_row(self, session: Session, call_id: str) -> CallRow:
        return self.vault._call_row(session, call_id)

    def _recording_row(self, session: Session, call_id: str) -> RecordingRow:
        return self.vault._recording_row(session, call_id)

    def _data_key(self, session: Session, recording: RecordingRow | str) -> bytes:
        return self.vault._data_key(session, recording)

    def _seal(
        self, key: str, dek: bytes, object_id: str, source: BinaryIO
    ) -> tuple[BlobWrite, SealedBlob]:
        return self.vault._seal(key, dek, object_id, source)

    def _checkpoint(self) -> None:
        self.vault._checkpoint()
