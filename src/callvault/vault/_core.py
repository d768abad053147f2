"""What the operation mixins of `Vault` (governance, rights, rewriting) use of it.

The mixins keep their own modules short; each reaches the vault's transactions, keys,
blob store and audit chain through `self`. `VaultCore` declares those members once, for
the type checker only: at run time it is an empty base class and `Vault` provides them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callvault.config import Config
    from callvault.vault._crypto import KeyRing, SealedBlob, Signer
    from callvault.vault._models import CallRow, CorrectionRow, RecordingRow
    from callvault.vault._store import BlobStore, BlobWrite

__all__ = ["VaultCore"]


class VaultCore:
    """The members of `Vault` its mixins use (declarations only)."""

    if TYPE_CHECKING:
        config: Config
        store: BlobStore
        keyring: KeyRing
        signer: Signer

        def _write(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

        def _call_row(self, session: Session, call_id: str) -> CallRow: ...

        def _recording_row(self, session: Session, call_id: str) -> RecordingRow: ...

        def _data_key(self, session: Session, recording: RecordingRow | str) -> bytes: ...

        def _seal(
            self, key: str, dek: bytes, object_id: str, source: BinaryIO
        ) -> tuple[BlobWrite, SealedBlob]: ...

        def _checkpoint(self) -> None: ...

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
        ) -> None: ...

        # From RightsOps: {call id: active restriction id} for the calls restricted.
        def _restricted(
            self, session: Session, call_ids: Iterable[str] | None
        ) -> dict[str, str]: ...

        def _read_refusal(
            self,
            session: Session,
            call_id: str,
            object_type: str,
            object_id: str,
            action: str,
            *,
            actor: str | None,
            purpose: str | None,
        ) -> Exception | None: ...

        def _correction_row(
            self,
            session: Session,
            recording: RecordingRow,
            target: str,
            key: str,
            old: dict[str, Any],
            new: dict[str, Any],
            reason: str,
            actor: str | None,
        ) -> CorrectionRow: ...

        def refuse_if_restricted(self, call_id: str, *, doing: str = "processed") -> None: ...

        def refuse_restricted_within(
            self, session: Session, call_id: str, *, doing: str = "processed"
        ) -> None: ...

        def read_transcript(
            self, call_id: str, *, actor: str | None = None, purpose: str | None = None
        ) -> bytes | None: ...

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
        ) -> str: ...
