"""Benchmark of callvault's vault: ingest speed and the cost of its encryption.

What one run measures (all on this machine, single process):

1. Ingest of one long recording: a stereo WAV, 16 kHz, 16-bit PCM (``--hours`` of it,
   default 1 h, about 230 MB), generated once into a temporary directory outside the
   vault's data directory. Timed is the whole ingest path: ``import_file`` (checks the
   file and decodes every packet with PyAV: the "probe") followed by ``Vault.store_call``
   (hashes, encrypts, writes and fsyncs the blob, commits the rows). Target: < 5 s per
   hour of audio.
2. Ingest of many short recordings (``--files``, default 200; 10 s mono 8 kHz WAV each,
   all different so none is a duplicate) through ``services.ingest_files``, which checks
   every file and then opens the vault (already initialised) and stores them one by one.
3. Encryption throughput over the same bytes (the long WAV, held in memory):
   (a) callvault's encryption layer, ``BlobEncryptor``, fed in 1 MiB pieces (chunked
   AES-256-GCM with an HKDF-derived key, STREAM nonces, header as associated data);
   (b) bare ``cryptography`` AES-GCM (``AESGCM.encrypt``) over chunks of the same size
   (``config.chunk_size``), each with its own 12-byte nonce. Best of 3 each; target:
   (a)/(b) >= 0.70.
   The vault must also keep the SHA-256 of the original and of the ciphertext, and on
   this CPU SHA-256 runs several times slower than AES-GCM, so hashing cannot be part of
   a fair comparison with bare AES-GCM. It is measured on its own: (d) ``seal_stream``
   (what ``store_call`` does to the bytes: encrypt, and hash both sides on a second
   thread) against the same work done serially with bare ``cryptography`` and
   ``hashlib``; target (d) >= 1.00. (c) The end-to-end ``store_call`` throughput of (1)
   as a ratio to (b), for information. A component row shows SHA-256 alone.

The input files are freshly written, so they are read from the page cache; the blob
writes do reach the disk (``store_call`` fsyncs). Results are a Markdown table on
stdout. The exit status is 0 whatever the verdicts: this is a benchmark, not a test.

Run it from the repository root::

    .venv/bin/python bench/vault.py                      # full run: 1 h WAV, 200 files
    .venv/bin/python bench/vault.py --hours 0.1 --files 20   # quick check
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Callable
from pathlib import Path

import av
import cryptography
import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.capture import FileImportOptions, import_file
from callvault.config import Config, load_config
from callvault.services import ingest_files, open_context
from callvault.vault import Vault
from callvault.vault._crypto import BLOB_HEADER_SIZE, BlobEncryptor, new_data_key, seal_stream

MB = 1e6  # throughput is reported in decimal megabytes per second
FEED = 1 << 20  # callvault reads its source 1 MiB at a time
REPEATS = 3

INGEST_TARGET_S_PER_HOUR = 5.0
CRYPTO_RATIO_TARGET = 0.70


# -- inputs ------------------------------------------------------------------------------


def write_long_wav(path: Path, hours: float, *, rate: int = 16_000, block_s: int = 10) -> int:
    """A stereo 16-bit WAV of noise plus a sine per channel, written block by block."""
    rng = np.random.default_rng(2026)
    total = round(hours * 3600 * rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        done = 0
        while done < total:
            n = min(block_s * rate, total - done)
            t = np.arange(done, done + n, dtype=np.float64) / rate
            tone = np.stack((np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 313 * t)), axis=1)
            block = 6000 * tone + rng.normal(0, 1500, size=(n, 2))
            out.writeframes(np.clip(block, -32768, 32767).astype("<i2").tobytes())
            done += n
    return path.stat().st_size


def write_short_wavs(
    directory: Path, count: int, *, seconds: int = 10, rate: int = 8_000
) -> list[Path]:
    """`count` mono WAVs, each with its own noise and tone, so no two have the same bytes."""
    paths = []
    t = np.arange(seconds * rate, dtype=np.float64) / rate
    for index in range(count):
        rng = np.random.default_rng(index)
        samples = 5000 * np.sin(2 * np.pi * (200 + index) * t) + rng.normal(0, 1000, t.size)
        path = directory / f"short-{index:04d}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
        paths.append(path)
    return paths


def bench_config(data_dir: Path) -> Config:
    return load_config(env={}, data_dir=data_dir, database_url=None, actor="bench")


# -- measurements ------------------------------------------------------------------------


def measure_long_ingest(config: Config, path: Path) -> dict[str, float]:
    """import_file (probe) + store_call on an already initialised vault."""
    start = time.perf_counter()
    vault = Vault.open(config)
    opened = time.perf_counter()
    with vault:
        t0 = time.perf_counter()
        captured = import_file(path, FileImportOptions(), max_bytes=config.max_input_bytes)
        t1 = time.perf_counter()
        result = vault.calls.store_call(captured)
        t2 = time.perf_counter()
    if result.duplicate:
        raise SystemExit("bench: the long recording was stored as a duplicate; stale data dir?")
    return {"open": opened - start, "probe": t1 - t0, "store": t2 - t1, "total": t2 - t0}


def measure_short_ingest(config: Config, paths: list[Path]) -> dict[str, float]:
    with Vault.open(config):  # initialise keys and schema outside the timed part
        pass
    start = time.perf_counter()
    with open_context(config) as ctx:
        results = ingest_files(ctx, paths, FileImportOptions(), consent="pre-call-notice")
    elapsed = time.perf_counter() - start
    stored = sum(not r.duplicate for r in results)
    if stored != len(paths):
        raise SystemExit(f"bench: only {stored} of {len(paths)} short files were stored anew")
    return {"total": elapsed, "files": len(paths)}


def run_blob_encryptor(data: memoryview, chunk_size: int) -> None:
    encryptor = BlobEncryptor(new_data_key(), uuid.uuid4().hex, chunk_size)
    for start in range(0, len(data), FEED):
        for _sealed in encryptor.update(data[start : start + FEED]):  # type: ignore[arg-type]
            pass
    encryptor.finalize()


def run_seal_stream(data: memoryview, chunk_size: int) -> None:
    """What store_call does to the bytes: encrypt, and SHA-256 both sides on a second thread."""
    encryptor = BlobEncryptor(new_data_key(), uuid.uuid4().hex, chunk_size)
    # BytesIO over the underlying bytes object shares it; read() copies, like a file read.
    seal_stream(io.BytesIO(data.obj), encryptor, lambda _block: None, read_size=FEED)  # type: ignore[arg-type]


def _aad() -> bytes:
    # The same length as callvault's associated data: blob header + recording id.
    return os.urandom(BLOB_HEADER_SIZE) + uuid.uuid4().hex.encode()


def run_bare_aesgcm(data: memoryview, chunk_size: int) -> None:
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = _aad()
    for index, start in enumerate(range(0, len(data), chunk_size)):
        cipher.encrypt(index.to_bytes(12, "big"), data[start : start + chunk_size], aad)


def run_sha256_twice(data: memoryview, _chunk_size: int) -> None:
    for _ in range(2):
        digest = hashlib.sha256()
        for start in range(0, len(data), FEED):
            digest.update(data[start : start + FEED])
        digest.hexdigest()


def run_aesgcm_and_hashes(data: memoryview, chunk_size: int) -> None:
    """Bare AES-GCM plus SHA-256 of plaintext and ciphertext: the encryptor's work, no more."""
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = _aad()
    plain, sealed = hashlib.sha256(), hashlib.sha256()
    for index, start in enumerate(range(0, len(data), chunk_size)):
        chunk = data[start : start + chunk_size]
        plain.update(chunk)
        sealed.update(cipher.encrypt(index.to_bytes(12, "big"), chunk, aad))
    plain.hexdigest()
    sealed.hexdigest()


def best_of(
    runs: dict[str, Callable[[memoryview, int], None]], data: memoryview, chunk_size: int
) -> dict[str, float]:
    """Best wall time of each function over REPEATS rounds, the functions interleaved."""
    best = {name: float("inf") for name in runs}
    for _ in range(REPEATS):
        for name, func in runs.items():
            start = time.perf_counter()
            func(data, chunk_size)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# -- report ------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "info" if ok is None else ("PASS" if ok else "**FAIL**")


def table(rows: list[tuple[str, ...]]) -> str:
    header = ("measurement", "callvault", "peer (bare AES-GCM)", "ratio / target", "verdict")
    cells = [header, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def machine() -> str:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        from cryptography.hazmat.backends.openssl import backend

        openssl = backend.openssl_version_text()
    except Exception:  # only for the report
        openssl = "unknown OpenSSL"
    return (
        f"machine: nproc={usable} (cpu_count={os.cpu_count()}), {platform.machine()}, "
        f"{platform.system()} {platform.release()}\n"
        f"python {platform.python_version()} ({sys.executable}), "
        f"cryptography {cryptography.__version__} ({openssl}), PyAV {av.__version__}, "
        f"numpy {np.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long WAV")
    parser.add_argument("--files", type=int, default=200, help="number of short WAVs")
    args = parser.parse_args(argv)
    if args.hours <= 0 or args.files <= 0:
        parser.error("--hours and --files must be positive")

    inputs = Path(tempfile.mkdtemp(prefix="callvault-bench-in-"))
    data_root = Path(tempfile.mkdtemp(prefix="callvault-bench-data-"))
    try:
        print(machine())
        print(f"inputs in {inputs}, vault data in {data_root}", flush=True)

        start = time.perf_counter()
        long_wav = inputs / "long.wav"
        long_size = write_long_wav(long_wav, args.hours)
        short_dir = inputs / "short"
        short_dir.mkdir()
        shorts = write_short_wavs(short_dir, args.files)
        print(
            f"generated {long_size / MB:.1f} MB long WAV ({args.hours:g} h) and "
            f"{len(shorts)} short WAVs in {time.perf_counter() - start:.1f} s",
            flush=True,
        )

        long_config = bench_config(data_root / "long")
        long = measure_long_ingest(long_config, long_wav)
        print(f"long ingest done: {long['total']:.2f} s", flush=True)
        short = measure_short_ingest(bench_config(data_root / "short"), shorts)
        print(f"short ingest done: {short['total']:.2f} s", flush=True)

        chunk_size = long_config.chunk_size
        data = memoryview(long_wav.read_bytes())
        crypto = best_of(
            {
                "vault": run_blob_encryptor,
                "bare": run_bare_aesgcm,
                "seal": run_seal_stream,
                "sha2": run_sha256_twice,
                "gcm+sha2": run_aesgcm_and_hashes,
            },
            data,
            chunk_size,
        )
        print("encryption runs done", flush=True)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.rmtree(data_root, ignore_errors=True)

    size_mb = long_size / MB
    rate = {name: size_mb / seconds for name, seconds in crypto.items()}
    store_rate = size_mb / long["store"]
    target_s = INGEST_TARGET_S_PER_HOUR * args.hours
    enc_ratio = rate["vault"] / rate["bare"]
    rows = [
        (
            f"ingest {args.hours:g} h stereo WAV ({size_mb:.0f} MB): probe + store",
            f"{long['total']:.2f} s ({size_mb / long['total']:.0f} MB/s)",
            "-",
            f"< {target_s:g} s",
            verdict(long["total"] < target_s),
        ),
        (
            "  of which probe (import_file, PyAV decode)",
            f"{long['probe']:.2f} s ({size_mb / long['probe']:.0f} MB/s)",
            "-",
            f"{long['probe'] / long['total']:.0%} of ingest",
            verdict(None),
        ),
        (
            "  of which store_call",
            f"{long['store']:.2f} s ({store_rate:.0f} MB/s)",
            "-",
            f"{long['store'] / long['total']:.0%} of ingest",
            verdict(None),
        ),
        (
            f"ingest {short['files']:.0f} short WAVs (10 s mono 8 kHz) via ingest_files",
            f"{short['total']:.2f} s ({short['files'] / short['total']:.0f} files/s)",
            "-",
            f"{1000 * short['total'] / short['files']:.1f} ms/file",
            verdict(None),
        ),
        (
            f"(a) BlobEncryptor vs (b) AESGCM, {chunk_size // 1024} KiB chunks, best of {REPEATS}",
            f"{rate['vault']:.0f} MB/s",
            f"{rate['bare']:.0f} MB/s",
            f"{enc_ratio:.2f} (>= {CRYPTO_RATIO_TARGET:.2f})",
            verdict(enc_ratio >= CRYPTO_RATIO_TARGET),
        ),
        (
            "(d) seal_stream (AES-GCM + SHA-256 of both, 2 threads) vs serial bare equivalent",
            f"{rate['seal']:.0f} MB/s",
            f"{rate['gcm+sha2']:.0f} MB/s",
            f"{rate['seal'] / rate['gcm+sha2']:.2f} (>= 1.00)",
            verdict(rate["seal"] >= rate["gcm+sha2"]),
        ),
        (
            "(c) store_call end to end vs bare AES-GCM",
            f"{store_rate:.0f} MB/s",
            f"{rate['bare']:.0f} MB/s",
            f"{store_rate / rate['bare']:.2f}",
            verdict(None),
        ),
        (
            "  component: SHA-256 of plaintext + ciphertext (2 passes)",
            f"{rate['sha2']:.0f} MB/s",
            f"{rate['bare']:.0f} MB/s",
            f"{rate['sha2'] / rate['bare']:.2f}",
            verdict(None),
        ),
        (
            "  component: AES-GCM + 2 x SHA-256, serial, no buffering",
            f"{rate['gcm+sha2']:.0f} MB/s",
            f"{rate['bare']:.0f} MB/s",
            f"{rate['gcm+sha2'] / rate['bare']:.2f}",
            verdict(None),
        ),
    ]
    print()
    print(table(rows))
    print()
    print(
        f"vault open (keys + schema, not timed above): {long['open']:.2f} s; "
        f"MB = 10^6 bytes; verdicts do not change the exit status."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
