"""bench/_many_calls.py and bench/backup.py: the generated vault holds what its docstring
says (distinct mu-law calls, transcripts, holds, retention, erasures), the tamper helpers
change one byte, and a tiny run of the bench measures the peers and restores every call."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import av
import pytest

from callvault.config import Config
from callvault.vault import Vault

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def backup() -> Iterator[ModuleType]:
    # backup.py imports _common, _many_calls, _scaleout; the processes _many_calls spawns
    # import it again by name, so bench/ stays on the path while the tests run.
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_backup", BENCH / "backup.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def many(backup: ModuleType) -> ModuleType:
    return sys.modules["_many_calls"]  # imported by backup.py


def test_calls_are_distinct_two_second_mulaw_stereo(many: ModuleType) -> None:
    pool = many.audio_pool()
    size = 2 * 8000 * 2
    first, second = many.call_samples(pool, 1, size), many.call_samples(pool, 2, size)
    assert len(first) == len(second) == size and first != second
    wav = many.mulaw_wav(first)
    assert len(wav) == 32_058 and many.wav_samples(wav) == first
    with av.open(io.BytesIO(wav)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("pcm_mulaw", 8000, 2)
        frames = sum(frame.samples for frame in container.decode(stream))
    assert frames == 16_000


def test_store_calls_holds_erases_and_keeps_the_rest(many: ModuleType, config: Config) -> None:
    lines: list[str] = []
    built = many.store_calls(config, many.ManyCallsOptions(calls=12, workers=1), lines.append)
    # Index 7 is held, index 11 erased, index 3 given a retention date (see the docstring).
    assert (built.stored, built.held, built.erased, built.retained) == (12, 1, 1, 1)
    assert built.calls == 11 and built.wav_bytes == 32_058
    assert lines[-1].startswith("  12/12 calls stored")
    with Vault.open(config) as vault:
        assert vault.calls.count_calls() == 11
        assert len(vault.holds.holds()) == 1
        assert len(vault.transcripts.untranscribed_recordings()) == 0
        assert vault.verify_audit().ok
    more = many.store_calls(config, many.ManyCallsOptions(calls=2, workers=1, first=12), print)
    assert more.erased == 0
    with Vault.open(config) as vault:
        assert vault.calls.count_calls() == 13  # new bytes, not duplicates


def test_flip_changes_one_byte_and_keeps_text_text(backup: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    text = '{"sha256": "' + "ab" * 32 + '"}'
    path.write_text(text)
    at = backup.hex_position(text)
    backup.flip(path, at)
    changed = path.read_text()
    assert sum(a != b for a, b in zip(text, changed, strict=True)) == 1
    assert json.loads(changed)["sha256"] != "ab" * 32
    path.write_bytes(b"\x00\xff")
    backup.flip(path, 1)
    assert path.read_bytes() == b"\x00\xfe"


def test_a_tiny_run_measures_the_peers_and_restores_every_call(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(BENCH / "backup.py"), "--calls", "10", "--add", "2"]
        + ["--backends", "sqlite,postgresql", "--workers", "1", "--peers-only", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ok"] and not report["callvault_measured"]
    steps = {(m["backend"], m["tool"], m["step"]) for m in report["measures"]}
    assert {
        ("sqlite", "tar", "full"),
        ("sqlite", "tar + zstd", "full"),
        ("sqlite", "tar", "incremental"),
        ("sqlite", "tar", "restore"),
        ("postgresql", "pg_dump + cp -a", "full"),
        ("postgresql", "pg_dump + cp -a", "incremental"),
        ("postgresql", "pg_dump + cp -a", "restore"),
    } <= steps
    assert [c["detail"] for c in report["checks"]] == ["11", "11"]  # 10 - 1 erased + 2
    assert list(tmp_path.iterdir()) == []  # the bench cleans up after itself


def test_a_tiny_run_backs_up_kills_and_tampers_on_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(BENCH / "backup.py"), "--calls", "10", "--add", "2"]
        + ["--backends", "sqlite", "--workers", "1", "--kills", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert done.returncode == 0 and not failed, (failed, done.stderr[-3000:])
    tools = {(m["tool"], m["step"]) for m in report["measures"]}
    assert {("callvault backup", s) for s in ("full", "incremental", "restore")} <= tools
    assert len([r for r in report["faults"] if r["kill"] != "-"]) == 2
    assert [t["case"] for t in report["tamper"]] == ["object", "manifest", "audit row", "database"]
    assert all(t["exit"] == 1 and t["names_it"] for t in report["tamper"])
