"""`callvault ingest` killed with SIGKILL at each step of storing a call.

The ingest runs in a child process (`_crash_child.py`) that sends itself SIGKILL at a
named point. Afterwards, in fresh processes, the vault must verify, its audit chain must
hold, the call must be either wholly present (bit-exact on export) or absent, the same
file must ingest again, and `gc` must clear the leftovers without touching live data.
SQLite only: the crash points are in callvault's own code, not in the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _audio import tone, wav_bytes

CHILD = Path(__file__).with_name("_crash_child.py")
CHUNK_SIZE = 256 << 10  # the default, set explicitly: mid-encrypt dies after 3 chunks

# Where the child dies, and whether the call it was storing must then be in the vault.
POINTS: dict[str, bool] = {
    "probe": False,  # while the file is checked, before the vault is opened
    "mid-encrypt": False,  # the third ciphertext chunk is in .incoming/*.part
    "before-blob-commit": False,  # all ciphertext written, not yet fsynced or renamed
    "after-blob-rename": False,  # blob renamed into place, directory not fsynced, no rows
    "after-blob-commit": False,  # blob in place and fsynced, rows not committed
    "after-db-commit": True,  # rows committed, nothing reported yet
}
# Points that leave an unfinished write (.part) or a blob no row names.
LEAVES_PART = {"mid-encrypt", "before-blob-commit"}
LEAVES_ORPHAN = {"after-blob-rename", "after-blob-commit"}


@dataclass(frozen=True)
class Baseline:
    data: Path  # a vault holding one call, copied for each test
    call_id: str
    recording_id: str
    second: Path  # the file the crashing ingest stores


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    env["CALLVAULT_DATA_DIR"] = str(data)  # and no CALLVAULT_DATABASE_URL: SQLite
    env["CALLVAULT_ACTOR"] = "test:crash"
    env["CALLVAULT_CHUNK_SIZE"] = str(CHUNK_SIZE)
    return env


def _spawn(data: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        env=_env(data),
        cwd=data.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _spawn(data, ["-m", "callvault", *args])


def _ok(data: Path, *args: str) -> Any:
    """Run a command that must succeed; its stdout parsed as JSON when it is JSON."""
    done = _cli(data, *args)
    assert done.returncode == 0, f"callvault {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout) if "--json" in args else done.stdout


def _verify_all(data: Path) -> dict[str, str]:
    """`verify --all` must pass; return {recording_id: call_id}."""
    report = _ok(data, "verify", "--all", "--json")
    assert report["ok"] is True, report
    assert all(r["ok"] and not r["faults"] for r in report["recordings"]), report
    return {r["recording_id"]: r["call_id"] for r in report["recordings"]}


def _ingest(data: Path, path: Path) -> dict[str, Any]:
    (stored,) = _ok(data, "ingest", "--consent", "pre-call-notice", str(path), "--json")["calls"]
    return dict(stored)


def _blobs(data: Path) -> dict[str, Path]:
    """Blobs in place (not unfinished writes), by key."""
    root = data / "blobs"
    return {
        p.name: p for p in root.glob("*/*") if p.is_file() and not p.parent.name.startswith(".")
    }


def _parts(data: Path) -> list[Path]:
    return sorted((data / "blobs" / ".incoming").glob("*"))


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("crash-baseline")
    first = root / "first.wav"
    first.write_bytes(wav_bytes(tone(2.0, 8000, 1, seed=1), 8000))
    # About 2.5 MB: ten 256 KiB chunks, so the child can die with some but not all written.
    second = root / "second.wav"
    second.write_bytes(wav_bytes(tone(40.0, 16000, 2, seed=2), 16000))
    data = root / "data"
    stored = _ingest(data, first)
    assert stored["duplicate"] is False
    return Baseline(data, stored["call_id"], stored["recording_id"], second)


def _crash(data: Path, point: str, *cli_args: str) -> subprocess.CompletedProcess[str]:
    crashed = _spawn(data, [str(CHILD), point, *cli_args])
    assert crashed.returncode == -signal.SIGKILL, (
        f"expected death by SIGKILL at {point}, got {crashed.returncode}: "
        f"{crashed.stdout}{crashed.stderr}"
    )
    assert f"crash point {point} reached" in crashed.stderr
    assert crashed.stdout == ""  # nothing was reported as stored
    return crashed


@pytest.mark.slow
@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_during_ingest_leaves_call_whole_or_absent(
    point: str, baseline: Baseline, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(baseline.data, data)
    before = _snapshot(data)
    second = baseline.second

    _crash(data, point, "ingest", "--consent", "pre-call-notice", str(second), "--json")

    if point == "probe":
        assert _snapshot(data) == before, "a crash while checking the file wrote something"
    parts = _parts(data)
    assert len(parts) == (1 if point in LEAVES_PART else 0), parts
    if point == "mid-encrypt":
        assert 3 * CHUNK_SIZE < parts[0].stat().st_size < 4 * CHUNK_SIZE < second.stat().st_size

    # Fresh processes see a consistent vault: every recording verifies.
    recordings = _verify_all(data)
    calls = [c["id"] for c in _ok(data, "list", "--json")["calls"]]
    assert baseline.call_id in calls
    new_calls = [c for c in calls if c != baseline.call_id]
    present = POINTS[point]
    if present:
        (call_id,) = new_calls
        assert sorted(recordings.values()) == sorted([baseline.call_id, call_id])
        out = tmp_path / "exported.wav"
        _ok(data, "export", call_id, "--out", str(out), "--purpose", "crash test")
        assert out.read_bytes() == second.read_bytes()
    else:
        assert new_calls == []
        assert recordings == {baseline.recording_id: baseline.call_id}

    orphans = set(_blobs(data)) - set(recordings)
    assert len(orphans) == (1 if point in LEAVES_ORPHAN else 0), orphans

    # The audit chain is intact and records an ingest exactly when the call is there.
    _ok(data, "audit", "verify")
    entries = _ok(data, "audit", "list", "--action", "call.ingest", "--json")["entries"]
    expected = [baseline.call_id, *new_calls]
    assert [e["object_id"] for e in entries] == expected

    # The same file ingests again: as a duplicate of the stored call, or as a new one.
    stored = _ingest(data, second)
    assert stored["duplicate"] is present
    if present:
        assert stored["call_id"] == new_calls[0]
    recordings = _verify_all(data)
    assert sorted(recordings.values()) == sorted([baseline.call_id, stored["call_id"]])

    # gc clears unfinished writes and old orphans, and nothing a record points to. Every
    # blob is made two hours old so that gc's minimum age does not spare the orphan.
    old = time.time() - 7200
    for path in _blobs(data).values():
        os.utime(path, (old, old))
    _ok(data, "gc")
    assert _parts(data) == []
    assert set(_blobs(data)) == set(recordings)
    assert _verify_all(data) == recordings


@pytest.mark.slow
def test_sigkill_while_probing_the_first_file_creates_nothing(
    baseline: Baseline, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _crash(data, "probe", "ingest", "--consent", "pre-call-notice", str(baseline.second))
    assert not data.exists()
