"""Blob stores: where ciphertext lives. Only ciphertext is ever handed to a store."""

from __future__ import annotations

import abc
import os
import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from callvault.vault._fs import create_private, fsync_dir, private_dir, remove_orphans

__all__ = ["BlobLocked", "BlobStore", "BlobWrite", "LocalBlobStore", "check_key"]

_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")


def check_key(key: str) -> str:
    """`key` when it is a valid blob key (letters, digits, `._-`, not starting with `.`)."""
    if not _KEY.fullmatch(key) or key.startswith("."):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobLocked(PermissionError):
    """The store refused to delete an object under object lock (a legal hold or a
    retention period). An OSError, so a unit of work that deletes replaced blobs after
    its commit logs it and leaves the object for `gc`; erasure checks `deletion_block`
    first and refuses instead."""


class BlobWrite(abc.ABC):
    """One object being written; invisible until `commit`, gone after `abort`."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None: ...


class BlobStore(abc.ABC):
    """A flat namespace of immutable objects addressed by key."""

    @abc.abstractmethod
    def begin_write(self, key: str) -> BlobWrite: ...

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A seekable binary stream; `FileNotFoundError` when the object is absent."""

    @abc.abstractmethod
    def size(self, key: str) -> int: ...

    @abc.abstractmethod
    def modified_at(self, key: str) -> float:
        """When the object was stored, as a POSIX timestamp."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    @abc.abstractmethod
    def iter_keys(self) -> Iterator[str]: ...

    @abc.abstractmethod
    def sweep_incomplete(self) -> int:
        """Remove writes abandoned by a process that died; return how many."""

    def protect(self, key: str, *, retain_until: datetime | None, legal_hold: bool) -> None:
        """Ask the store itself to keep object `key`: a legal hold (on or off) and, when
        given, a retention date (WORM). Stores without object lock do nothing: the local
        directory relies on the vault's own holds and retention checks."""
        return None

    def has_object_lock(self) -> bool:
        """Whether `protect` does anything here (the store has object lock enabled)."""
        return False

    def deletion_block(self, key: str) -> str | None:
        """Why the store would refuse to delete `key` now (its object lock), or None."""
        return None

    def ensure_ready(self, *, object_lock: bool = False) -> bool:
        """Create what the store needs (a directory, a bucket) when missing; return
        whether something was created. `object_lock`: create it with object lock."""
        return False

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Raise an error unless an object can be stored now (for readiness)."""


class _LocalWrite(BlobWrite):
    def __init__(self, tmp: Path, final: Path) -> None:
        self._tmp, self._final = tmp, final
        self._handle: BinaryIO | None = create_private(tmp)  # 0600; closed in commit/abort

    def write(self, data: bytes) -> None:
        assert self._handle is not None, "write after commit or abort"
        self._handle.write(data)

    def commit(self) -> None:
        assert self._handle is not None, "commit after commit or abort"
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        fan = self._final.parent
        if not fan.is_dir():
            private_dir(fan)
            fsync_dir(fan.parent)  # a power loss must not lose the new directory's entry
        os.replace(self._tmp, self._final)
        fsync_dir(self._final.parent)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._tmp.unlink(missing_ok=True)


class LocalBlobStore(BlobStore):
    """Objects as files under a directory, fanned out by the first characters of the key.

    A write goes to `.incoming/<pid>-<random>.part`, is fsynced and then renamed into
    place, so a reader never sees half an object.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / ".incoming"

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    def ensure_ready(self, *, object_lock: bool = False) -> bool:
        if self.root.is_dir():
            return False
        private_dir(self.root)
        return True

    def check_writable(self) -> None:
        if not (self.root.is_dir() and os.access(self.root, os.W_OK)):
            raise PermissionError(f"the blob directory {self.root} is not writable")

    def begin_write(self, key: str) -> BlobWrite:
        final = self._path(key)
        private_dir(self._incoming)
        tmp = self._incoming / f"{os.getpid()}-{secrets.token_hex(6)}.part"
        return _LocalWrite(tmp, final)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def modified_at(self, key: str) -> float:
        return self._path(key).stat().st_mtime

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def iter_keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if fan.is_dir() and not fan.name.startswith("."):
                for item in sorted(fan.iterdir()):
                    if item.is_file():
                        yield item.name

    def sweep_incomplete(self) -> int:
        return remove_orphans(self._incoming, "*.part")
