"""Durable, private file writes: write to a temporary name, fsync, rename, fsync the
directory; every file callvault creates is 0600 and every directory 0700, whatever the
umask (issue 17: blobs and exports followed it, 0666 under umask 000)."""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "process_tag",
    "remove_orphans",
    "FILE_MODE",
    "atomic_write",
    "create_private",
    "fsync_dir",
    "private_dir",
    "tighten_data_dir",
]

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask only ever takes bits away; set exactly `mode`
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_private(path: Path) -> BinaryIO:
    """Open a new file (never an existing one) for writing, mode 0600 whatever the umask:
    only the owner can read what callvault writes, ciphertext or an export alike."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> None:
    """Create `path` and any missing parents as 0700 directories, whatever the umask. An
    existing directory is left as it is (see `tighten_data_dir` for the data directory)."""
    missing = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made by another process meanwhile: it made it private too
        os.chmod(directory, DIR_MODE)


def _tighten(path: Path, mode: int) -> int | None:
    """Take the bits outside `mode` off `path`; its old mode when it changed, else None."""
    info = path.lstat()
    old = info.st_mode & 0o777
    if old & ~mode == 0:
        return None
    os.chmod(path, old & mode, follow_symlinks=False)
    return old


def tighten_data_dir(
    root: Path, dirs: Iterable[Path], files: Iterable[Path]
) -> list[tuple[Path, int]]:
    """Make the data directory `root` and the given directories of it 0700 at most and
    the given files (the database and its journal) 0600 at most, with everything under
    `keys/` but the public key: an existing data directory made under a loose umask is
    tightened, not kept. A blob deeper down needs no pass of its own, nobody else can
    reach it through a 0700 directory. Returns (path, old mode) of what was changed."""
    changed: list[tuple[Path, int]] = []

    def fix(path: Path, mode: int) -> None:
        if path.is_symlink() or not path.exists():
            return
        old = _tighten(path, mode)
        if old is not None:
            changed.append((path, old))

    fix(root, DIR_MODE)
    for directory in dirs:
        fix(directory, DIR_MODE)
        if directory.name == "keys" and directory.is_dir() and not directory.is_symlink():
            for entry in sorted(directory.rglob("*")):
                if entry.is_dir():
                    fix(entry, DIR_MODE)
                elif entry.suffix != ".pub":
                    fix(entry, FILE_MODE)
    for file in files:
        fix(file, FILE_MODE)
    return changed


# A file of another host older than this is an orphan whatever its pid (an upload is
# cut off by the request timeouts long before).
FOREIGN_ORPHAN_AGE_S = 24 * 3600


@functools.cache
def _host_token() -> str:
    """Which host, boot and PID namespace this process runs in, as 10 hex digits: a pid
    means one process only there. Several `callvault serve` on one data directory, on
    other machines or in other containers (issue 19), must not take each other's pids for
    their own."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid_ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        boot, pid_ns = "", ""
    seen = f"{socket.gethostname()}|{boot}|{pid_ns}"
    return hashlib.sha256(seen.encode()).hexdigest()[:10]


def process_tag() -> str:
    """`<pid>.<host token>`: what starts the name of a file this process owns until it
    closes it, so that `remove_orphans` on any host can tell whether its owner is gone."""
    return f"{os.getpid()}.{_host_token()}"


def remove_orphans(directory: Path, pattern: str) -> int:
    """Remove the files matching `pattern` in `directory` whose owner is gone: the name
    starts with `process_tag()` ("<pid>.<host>-...") of a process of this host that no
    longer runs, or with a bare "<pid>-" of one (an older name). A file of another host
    is left to that host, unless older than `FOREIGN_ORPHAN_AGE_S`. Returns how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for path in directory.glob(pattern):
        owner = path.name.split("-", 1)[0]
        pid, _, host = owner.partition(".")
        if host and host != _host_token():
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < FOREIGN_ORPHAN_AGE_S:
                continue
        elif pid.isdigit() and _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
