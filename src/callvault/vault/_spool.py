"""An encrypted spool: where an upload waits, as ciphertext, while it is received.

Issue 17 found uploads spooled in full to the system temporary directory as plaintext
audio (Starlette's multipart parser) and held in memory after that. A spool is a file in
the data directory's `spool/` (0700; the file 0600), written through the blob format of
`_crypto` (STREAM chunks of AES-256-GCM) under a data key that exists only in this
process's memory: the file is unreadable to anyone else, and useless once the process
is gone. Reading it back authenticates every chunk. A spool is removed when it is
closed; one left by a process that died is removed by the next spool opened on its host
(the name says which host: several servers may share one data directory, issue 19).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from callvault.vault._crypto import BlobEncryptor, BlobReader, new_data_key
from callvault.vault._fs import (
    DIR_MODE,
    create_private,
    private_dir,
    process_tag,
    remove_orphans,
)

__all__ = ["EncryptedSpool", "sweep_spools"]

_SUFFIX = ".spool"


def sweep_spools(directory: Path) -> int:
    """Remove the spools of processes that are gone; return how many."""
    return remove_orphans(directory, f"*{_SUFFIX}")


class EncryptedSpool:
    """One spool: `write` plaintext as it arrives, `finish`, then `open` it as often as
    needed (each a seekable plaintext file, decrypted chunk by chunk), and `close`."""

    def __init__(self, directory: Path, chunk_size: int) -> None:
        private_dir(directory)
        os.chmod(directory, DIR_MODE)  # an existing one too
        sweep_spools(directory)
        name = f"{process_tag()}-{secrets.token_hex(8)}"
        self.path = directory / f"{name}{_SUFFIX}"
        self._object = f"spool/{name}"
        self._key = new_data_key()
        self._encryptor = BlobEncryptor(self._key, self._object, chunk_size)
        self._handle: BinaryIO | None = create_private(self.path)
        self._handle.write(self._encryptor.header)
        self._ciphertext_size = len(self._encryptor.header)
        self.finished = False

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._encryptor.plain_size

    def write(self, data: bytes) -> None:
        assert self._handle is not None and not self.finished, "write after finish or close"
        for block in self._encryptor.update(data):
            self._handle.write(block)
            self._ciphertext_size += len(block)

    def finish(self) -> None:
        """Seal the last chunk; the spool can be read from now on."""
        assert self._handle is not None and not self.finished, "finish after finish or close"
        last = self._encryptor.finalize()
        self._handle.write(last)
        self._ciphertext_size += len(last)
        self._handle.close()
        self._handle = None
        self.finished = True

    def open(self) -> BinaryIO:
        """A seekable file over the plaintext; every chunk read is authenticated."""
        assert self.finished, "open before finish"
        handle = open(self.path, "rb")  # noqa: SIM115 - closed with the file returned
        try:
            reader = BlobReader(handle, self._ciphertext_size, self._key, self._object)
        except BaseException:
            handle.close()
            raise
        return reader.as_file(close_handle=True)

    def close(self) -> None:
        """Remove the spool (and forget its key)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.path.unlink(missing_ok=True)
        self._key = b""

    def __enter__(self) -> EncryptedSpool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
