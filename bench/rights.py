"""Benchmark of data subjects' requests: `rights erase` and `rights export` on SQLite.

What one run measures (single process, one temporary data directory):

1. Setup (not timed against a peer): ``--calls`` tiny calls (default 10,000; a 0.05 s
   mono 8 kHz WAV, the same samples with a different counter in the last bytes, so none
   is a duplicate) stored with ``Vault.store_call``. ``--erase-calls`` of them (default
   1,000) have subject A's number as caller, ``--export-calls`` (default 100) subject
   B's, the rest other numbers. The data directory is then copied for the peer.
2. Erase: ``services.erase_subject`` of subject A (find, check holds and retention
   duties, then per call: search rows purged, data key, rows and blobs deleted, audit
   entries signed, WAL checkpoint; one summary entry). Target: <= 10 s. Peer, on the
   copy: the bare equivalent, one SQL transaction deleting those calls' rows (legs, data
   keys, manifests, transcripts, recordings, participants, calls) and unlinking the
   blobs, no audit, no index, no checks.
3. Export: ``services.export_subject`` of subject B into a zip (per call an audited
   record read, an audited transcript read and an audited, decrypting audio read;
   consents and audit entries). Target: <= 60 s. Peer: bare decrypt of the same blobs
   (unwrap each data key, decrypt with ``BlobReader``) into a zipfile.

Results are a Markdown table on stdout; the exit status is 0 whatever the verdicts.

    .venv/bin/python bench/rights.py                 # full run
    .venv/bin/python bench/rights.py --calls 2000    # quick check
"""

from __future__ import annotations

import argparse
import io
import shutil
import sqlite3
import sys
import tempfile
import time
import wave
import zipfile
from dataclasses import replace
from pathlib import Path

from _common import machine_line, table, verdict
from callvault.capture import (
    CallMetadata,
    CapturedCall,
    FileImportOptions,
    Participant,
    import_bytes,
)
from callvault.config import Config, load_config
from callvault.services import Context, erase_subject, export_subject
from callvault.vault import BlobReader, Vault
from callvault.vault._crypto import unwrap_data_key

ERASE_TARGET_S = 10.0
EXPORT_TARGET_S = 60.0
SUBJECT_A = "+14155550100"
SUBJECT_B = "+14155550101"


def tiny_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * 3 + bytes(32))  # 400 frames, 0.05 s
    return buffer.getvalue()


def bench_config(data_dir: Path) -> Config:
    return load_config(env={}, data_dir=data_dir, database_url=None, actor="bench")


def build(vault: Vault, calls: int, erase_calls: int, export_calls: int) -> None:
    """Store `calls` tiny calls; the first go to subject A, the next to subject B."""
    base = tiny_wav()
    template = import_bytes(base, "tiny.wav", FileImportOptions())  # probed once
    for index in range(calls):
        data = base[:-8] + index.to_bytes(8, "little")  # last 4 samples: a counter
        if index < erase_calls:
            caller = SUBJECT_A
        elif index < erase_calls + export_calls:
            caller = SUBJECT_B
        else:
            caller = f"+1415{index % 10_000_000:07d}"
        call: CapturedCall = replace(
            template,
            source_name=f"tiny-{index}.wav",
            open_audio=lambda data=data: io.BytesIO(data),  # type: ignore[misc]
            metadata=CallMetadata(direction="inbound"),
            participants=(
                Participant("caller", phone=caller),
                Participant("callee", phone="+442071838750"),
            ),
        )
        vault.calls.store_call(call)


def bare_erase(data_dir: Path, subject: str) -> int:
    """One SQL transaction deleting the subject's calls' rows, then the blob unlinks."""
    conn = sqlite3.connect(data_dir / "callvault.db")
    try:
        with conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT call_id FROM participants WHERE phone = ?", (subject,)
                )
            ]
            conn.execute("CREATE TEMP TABLE gone (id TEXT PRIMARY KEY)")
            conn.executemany("INSERT INTO gone VALUES (?)", [(i,) for i in ids])
            keys = [
                row[0]
                for row in conn.execute(
                    "SELECT blob_key FROM recordings WHERE call_id IN (SELECT id FROM gone)"
                )
            ]
            recs = "SELECT id FROM recordings WHERE call_id IN (SELECT id FROM gone)"
            conn.execute(f"DELETE FROM legs WHERE recording_id IN ({recs})")
            conn.execute(f"DELETE FROM data_keys WHERE recording_id IN ({recs})")
            conn.execute(f"DELETE FROM manifests WHERE recording_id IN ({recs})")
            conn.execute(f"DELETE FROM transcripts WHERE recording_id IN ({recs})")
            conn.execute("DELETE FROM recordings WHERE call_id IN (SELECT id FROM gone)")
            conn.execute("DELETE FROM participants WHERE call_id IN (SELECT id FROM gone)")
            conn.execute("DELETE FROM calls WHERE id IN (SELECT id FROM gone)")
    finally:
        conn.close()
    blobs = data_dir / "blobs"
    for key in keys:
        (blobs / key[:2] / key).unlink()
    return len(ids)


def bare_export(vault: Vault, subject: str, out: Path) -> int:
    """Unwrap each data key, decrypt each blob and write it into a zip; nothing else."""
    conn = sqlite3.connect(vault.config.data_dir / "callvault.db")
    try:
        rows = conn.execute(
            "SELECT r.id, r.blob_key, r.ciphertext_size, k.kek_id, k.wrapped "
            "FROM recordings r JOIN data_keys k ON k.recording_id = r.id "
            "WHERE r.call_id IN (SELECT call_id FROM participants WHERE phone = ?)",
            (subject,),
        ).fetchall()
    finally:
        conn.close()
    with zipfile.ZipFile(out, "w") as archive:
        for rid, key, size, kek_id, wrapped in rows:
            dek = unwrap_data_key(vault.keyring.key(kek_id), kek_id, rid, wrapped)
            with vault.store.open(key) as handle, archive.open(f"{rid}.wav", "w") as member:
                for chunk in BlobReader(handle, size, dek, rid).iter_chunks():
                    member.write(chunk)
    return len(rows)


def timed(function, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls stored in all")
    parser.add_argument("--erase-calls", type=int, default=1_000, help="calls of subject A")
    parser.add_argument("--export-calls", type=int, default=100, help="calls of subject B")
    args = parser.parse_args(argv)
    if args.erase_calls + args.export_calls > args.calls:
        parser.error("--erase-calls plus --export-calls is more than --calls")
    print(machine_line(["sqlalchemy", "cryptography"], "SQLite, single process"))
    with tempfile.TemporaryDirectory(prefix="callvault-bench-rights-") as tmp:
        root = Path(tmp)
        config = bench_config(root / "data")
        with Vault.open(config) as vault:
            _, build_s = timed(build, vault, args.calls, args.erase_calls, args.export_calls)
        shutil.copytree(root / "data", root / "peer")
        with Vault.open(config) as vault:
            peer_erased, peer_erase_s = timed(bare_erase, root / "peer", SUBJECT_A)
            erased, erase_s = timed(
                lambda: erase_subject(Context(config, vault), SUBJECT_A, reason="bench request")
            )
            peer_exported, peer_export_s = timed(bare_export, vault, SUBJECT_B, root / "peer.zip")
            exported, export_s = timed(
                lambda: export_subject(
                    Context(config, vault), SUBJECT_B, root / "subject.zip", purpose="bench"
                )
            )
            assert len(erased.erased) == peer_erased == args.erase_calls
            assert len(exported.call_ids) == peer_exported == args.export_calls
            audit_ok = vault.verify_audit().ok
    print(
        f"Setup: {args.calls:,} calls stored in {build_s:.1f} s; audit chain intact: {audit_ok}\n"
    )
    table(
        ["operation", "calls", "callvault (s)", "peer (s)", "ratio", "target", "verdict"],
        [
            [
                "rights erase (peer: bare SQL DELETE + unlink)",
                f"{args.erase_calls:,}",
                f"{erase_s:.2f}",
                f"{peer_erase_s:.3f}",
                f"{erase_s / peer_erase_s:.0f}x",
                f"<= {ERASE_TARGET_S:.0f} s",
                verdict(erase_s <= ERASE_TARGET_S),
            ],
            [
                "rights export (peer: bare decrypt + zipfile)",
                f"{args.export_calls:,}",
                f"{export_s:.2f}",
                f"{peer_export_s:.3f}",
                f"{export_s / peer_export_s:.0f}x",
                f"<= {EXPORT_TARGET_S:.0f} s",
                verdict(export_s <= EXPORT_TARGET_S),
            ],
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
