"""The encrypted spool an upload is received into (issue 17, finding 3), and the chunk by
chunk range reads audio responses stream from (finding 1)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callvault.errors import IntegrityError
from callvault.vault import EncryptedSpool
from callvault.vault._crypto import BlobEncryptor, BlobReader, new_data_key, seal_stream
from callvault.vault._fs import FOREIGN_ORPHAN_AGE_S, process_tag
from callvault.vault._spool import sweep_spools
from callvault.vault._store import LocalBlobStore

CHUNK = 4096
AUDIO = bytes(range(256)) * 200 + b"RIFF ask not what your country" * 50  # 52.7 KB


def test_a_spool_holds_ciphertext_only_and_reads_back(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with EncryptedSpool(directory, CHUNK) as spool:
        for start in range(0, len(AUDIO), 1000):  # as an upload arrives, in pieces
            spool.write(AUDIO[start : start + 1000])
        spool.finish()
        assert spool.size == len(AUDIO)
        on_disk = spool.path.read_bytes()
        assert b"ask not what your country" not in on_disk and AUDIO[:64] not in on_disk
        assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        with spool.open() as first, spool.open() as second:  # each a fresh, seekable file
            assert first.read() == AUDIO
            second.seek(len(AUDIO) - 10)
            assert second.read() == AUDIO[-10:]
    assert list(directory.iterdir()) == []  # closed: removed


def test_a_changed_spool_chunk_fails_its_read(tmp_path: Path) -> None:
    with EncryptedSpool(tmp_path, CHUNK) as spool:
        spool.write(AUDIO)
        spool.finish()
        data = bytearray(spool.path.read_bytes())
        data[24 + 3 * (CHUNK + 16) + 5] ^= 0x80
        spool.path.write_bytes(bytes(data))
        with spool.open() as reader:
            assert reader.read(3 * CHUNK) == AUDIO[: 3 * CHUNK]
            with pytest.raises(IntegrityError, match="chunk 3 of the blob fails authentication"):
                reader.read(CHUNK)


def _dead_pid() -> str:
    """The pid of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def test_spools_of_processes_that_are_gone_are_swept(tmp_path: Path) -> None:
    dead = tmp_path / f"{_dead_pid()}-0123456789abcdef.spool"
    dead.write_bytes(b"ciphertext of a crashed upload")
    live = tmp_path / f"{os.getpid()}-fedcba9876543210.spool"
    live.write_bytes(b"an upload still arriving")
    assert sweep_spools(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    EncryptedSpool(tmp_path, CHUNK).close()  # a new spool sweeps too
    assert live.exists()


def test_spools_of_another_host_are_left_to_it(tmp_path: Path) -> None:
    """Servers on other machines (or containers) share the data directory (issue 19):
    their pids mean nothing here, so their spools are theirs until a day old."""
    other = tmp_path / f"{_dead_pid()}.0123456789-0123456789abcdef.spool"
    other.write_bytes(b"an upload arriving on another machine")
    stale = tmp_path / f"{_dead_pid()}.0123456789-fedcba9876543210.spool"
    stale.write_bytes(b"left by a machine that went away")
    old = time.time() - FOREIGN_ORPHAN_AGE_S - 60
    os.utime(stale, (old, old))
    mine = tmp_path / f"{_dead_pid()}.{process_tag().split('.')[1]}-00112233.spool"
    mine.write_bytes(b"a crashed upload of this host")
    assert sweep_spools(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == [other.name]
    spool = EncryptedSpool(tmp_path, CHUNK)
    assert spool.path.name.startswith(f"{process_tag()}-")
    spool.close()


def test_iter_range_gives_what_read_range_gives_one_chunk_at_a_time() -> None:
    dek = new_data_key()
    sealed = io.BytesIO()
    seal_stream(io.BytesIO(AUDIO), BlobEncryptor(dek, "r1", CHUNK), sealed.write)
    sealed.seek(0)
    reader = BlobReader(sealed, len(sealed.getvalue()), dek, "r1")
    size = len(AUDIO)
    for offset, length in [
        (0, size),
        (0, 1),
        (CHUNK - 1, 2),
        (CHUNK, CHUNK),
        (5, 3 * CHUNK),
        (size - 7, 100),
        (size, 10),
        (3, 0),
    ]:
        pieces = list(reader.iter_range(offset, length))
        assert (
            b"".join(pieces) == reader.read_range(offset, length) == AUDIO[offset : offset + length]
        )
        assert all(len(piece) <= CHUNK for piece in pieces)


def test_the_blob_store_sweeps_writes_a_dead_process_left_and_keeps_live_ones(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    incoming = tmp_path / "blobs" / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    dead = incoming / f"{_dead_pid()}-0123456789ab.part"
    dead.write_bytes(b"ciphertext of a write killed halfway")
    live = incoming / f"{os.getpid()}-ba9876543210.part"
    live.write_bytes(b"a write still going")
    other = incoming / "notes.txt"  # not a write of ours: left alone
    other.write_bytes(b"")
    assert store.sweep_incomplete() == 1
    assert sorted(p.name for p in incoming.iterdir()) == sorted([live.name, other.name])
