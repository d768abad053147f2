"""One unit of work: a database transaction, its audit entries and its blob writes.

Every write of the storage core goes through `Vault.transaction()`, which yields a
`Transaction`. The order that keeps the store consistent is kept here, once:

1. blobs are sealed into staged (not yet visible) writes while the rows are written;
2. the staged blobs are put in place, then the rows commit: a crash in between leaves an
   unreadable orphan (its key was never stored) for `gc`, never a row without its blob;
3. blobs the transaction replaced are deleted only after the commit, and hooks registered
   with `after_commit` run then.

When anything fails before the commit, the staged writes are aborted and blobs already put
in place are deleted again: nothing half-written is left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy.orm import Session

from callvault.vault import _audit
from callvault.vault._crypto import BlobEncryptor, SealedBlob, seal_stream

if TYPE_CHECKING:
    from callvault.vault._crypto import Signer
    from callvault.vault._store import BlobStore, BlobWrite

__all__ = ["Transaction", "seal_blob", "unit_of_work"]

log = logging.getLogger("callvault.vault")

_READ_SIZE = 1 << 20


def seal_blob(
    store: BlobStore, key: str, dek: bytes, object_id: str, source: BinaryIO, chunk_size: int
) -> tuple[BlobWrite, SealedBlob]:
    """Encrypt `source` into a new, not yet committed blob `key`; abort it on failure."""
    write = store.begin_write(key)
    try:
        encryptor = BlobEncryptor(dek, object_id, chunk_size)
        return write, seal_stream(source, encryptor, write.write, read_size=_READ_SIZE)
    except BaseException:
        write.abort()
        raise


class Transaction:
    """What one unit of work holds: the session, who acts and why, staged blob writes."""

    def __init__(
        self,
        session: Session,
        *,
        store: BlobStore,
        signer: Signer,
        chunk_size: int,
        actor: str,
        purpose: str | None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.purpose = purpose
        self._store = store
        self._signer = signer
        self._chunk_size = chunk_size
        self._staged: list[tuple[str, BlobWrite]] = []
        self._placed: list[str] = []
        self._doomed: list[str] = []
        self._hooks: list[Callable[[], object]] = []

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: str | None,
        *,
        details: dict[str, Any] | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> None:
        """Add an entry to the audit chain in this transaction: buffered, and appended
        with the others as the last statement before the commit (`_audit.defer`), so
        the chain's head is locked only for the time of that append."""
        entry = _audit.Entry(
            action,
            object_type,
            object_id,
            purpose=purpose if purpose is not None else self.purpose,
            details=details,
            actor=actor or self.actor,
        )
        _audit.defer(self.session, self._signer, entry)

    def seal(self, key: str, dek: bytes, object_id: str, source: BinaryIO) -> SealedBlob:
        """Encrypt `source` into blob `key`, put in place when the transaction commits."""
        write, sealed = seal_blob(self._store, key, dek, object_id, source, self._chunk_size)
        self._staged.append((key, write))
        return sealed

    def stage(self, key: str, write: BlobWrite) -> None:
        """Adopt a blob write begun elsewhere (sealed before the transaction opened)."""
        self._staged.append((key, write))

    def delete_after_commit(self, key: str) -> None:
        """Delete blob `key` once the rows that no longer point at it have committed."""
        self._doomed.append(key)

    def after_commit(self, hook: Callable[[], object]) -> None:
        """Run `hook` after the commit (never when the transaction fails)."""
        self._hooks.append(hook)

    # -- driven by unit_of_work --------------------------------------------------------

    def _place_blobs(self) -> None:
        while self._staged:
            key, write = self._staged.pop(0)
            write.commit()
            self._placed.append(key)

    def _undo(self) -> None:
        for _key, write in self._staged:
            write.abort()
        for key in self._placed:
            try:
                self._store.delete(key)
            except OSError:
                log.warning("could not delete blob %s of a failed transaction", key)
        self._staged.clear()
        self._placed.clear()

    def _finish(self) -> None:
        for key in self._doomed:
            try:
                self._store.delete(key)
            except OSError:
                # An orphan with no key left: `gc` removes it later.
                log.warning("could not delete replaced blob %s", key)
        for hook in self._hooks:
            hook()


@contextmanager
def unit_of_work(
    open_session: Callable[[], Any],
    *,
    store: BlobStore,
    signer: Signer,
    chunk_size: int,
    actor: str,
    purpose: str | None,
) -> Iterator[Transaction]:
    """Run one unit of work; `open_session` is the vault's writing session factory."""
    tx: Transaction | None = None
    try:
        with open_session() as session:
            tx = Transaction(
                session,
                store=store,
                signer=signer,
                chunk_size=chunk_size,
                actor=actor,
                purpose=purpose,
            )
            yield tx
            session.flush()
            tx._place_blobs()
    except BaseException:
        if tx is not None:
            tx._undo()
        raise
    tx._finish()
