"""Run the real `callvault` command and SIGKILL this process at a named point of an ingest.

Usage: python _crash_child.py POINT CLI-ARGS...

Used by test_crash.py. The process kills itself with SIGKILL (no cleanup, no `finally`,
no atexit, no flushing), exactly as `kill -9` or the OOM killer would. When the point is
never reached the command runs to its end and exits normally, which the test notices.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import callvault.capture.files as capture_files
import callvault.vault._store as store
from callvault.cli import cli
from callvault.vault import CallRepository

CHUNKS_BEFORE_KILL = 3


def _die(point: str) -> None:
    sys.stderr.write(f"crash point {point} reached; sending SIGKILL\n")
    os.kill(os.getpid(), signal.SIGKILL)


def _probe() -> None:
    """Die inside `probe_audio`, when it opens the file a second time to decode it."""
    real = capture_files.probe_audio

    @functools.wraps(real)
    def probe_audio(open_source: Callable[[], Any], **kwargs: Any) -> Any:
        opened = 0

        def dying_open() -> Any:
            nonlocal opened
            opened += 1
            if opened == 2:
                _die("probe")
            return open_source()

        return real(dying_open, **kwargs)

    capture_files.probe_audio = probe_audio


def _mid_encrypt() -> None:
    """Die after the header and the third ciphertext chunk went into the blob write."""
    real = store._LocalWrite.write
    calls = 0

    def write(self: store._LocalWrite, data: bytes) -> None:
        nonlocal calls
        real(self, data)
        calls += 1
        if calls == 1 + CHUNKS_BEFORE_KILL:
            _die("mid-encrypt")

    store._LocalWrite.write = write  # type: ignore[method-assign]


def _before_blob_commit() -> None:
    def commit(self: store._LocalWrite) -> None:
        _die("before-blob-commit")

    store._LocalWrite.commit = commit  # type: ignore[method-assign]


def _after_blob_rename() -> None:
    """Die between `os.replace` and the directory fsync in `_LocalWrite.commit`."""
    real_commit, real_fsync_dir = store._LocalWrite.commit, store.fsync_dir
    committing: list[store._LocalWrite] = []

    def commit(self: store._LocalWrite) -> None:
        committing.append(self)
        try:
            real_commit(self)
        finally:
            committing.pop()

    def fsync_dir(path: Any) -> None:
        # Only the fsync of the blob's own directory follows the rename; a new fan-out
        # directory is fsynced into its parent before it.
        if committing and path == committing[-1]._final.parent:
            write = committing[-1]
            if not write._final.is_file() or write._tmp.exists():
                sys.stderr.write("after-blob-rename: the blob is not in place\n")
                sys.exit(3)
            _die("after-blob-rename")
        real_fsync_dir(path)

    store._LocalWrite.commit = commit  # type: ignore[method-assign]
    store.fsync_dir = fsync_dir


def _after_blob_commit() -> None:
    """Die once the blob is in place and fsynced, before the rows commit."""
    real = store._LocalWrite.commit

    def commit(self: store._LocalWrite) -> None:
        real(self)
        _die("after-blob-commit")

    store._LocalWrite.commit = commit  # type: ignore[method-assign]


def _after_db_commit() -> None:
    real = CallRepository.store_call

    @functools.wraps(real)
    def store_call(self: CallRepository, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)  # returns once the rows have committed
        _die("after-db-commit")
        return result

    CallRepository.store_call = store_call  # type: ignore[method-assign]


POINTS: dict[str, Callable[[], None]] = {
    "probe": _probe,
    "mid-encrypt": _mid_encrypt,
    "before-blob-commit": _before_blob_commit,
    "after-blob-rename": _after_blob_rename,
    "after-blob-commit": _after_blob_commit,
    "after-db-commit": _after_db_commit,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in POINTS:
        sys.exit(f"usage: _crash_child.py {{{','.join(POINTS)}}} CLI-ARGS...")
    POINTS[argv[0]]()
    cli(argv[1:], prog_name="callvault")


if __name__ == "__main__":
    main(sys.argv[1:])
