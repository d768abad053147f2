"""A vault of many calls for the backup bench (issue 21), built through the real vault API.

Each call is a stereo 8 kHz G.711 mu-law WAV of ``seconds`` (default 2 s: 32,000 bytes
of samples plus a 58-byte header), one party a channel: band-limited line noise at
-30 dBFS with a quiet tone per channel, cut at a different place of a one-minute pool
for every call and ending in an 8-byte counter, so no two calls are the same bytes (the
vault would store a duplicate once). The WAV is probed once with PyAV (`import_bytes`);
every call is then stored with ``Vault.calls.store_call``: real encryption (AES-GCM under
its own data key), a signed manifest and an audit entry per call. Per call also a short
transcript of two made-up utterances (no names, no numbers; encrypted under the call's
data key, a ``transcript.store`` audit entry), two participants (made-up numbers of the
+1 415 555 01xx fiction range), a retention class with a date on every 10th call, a
legal hold on every 500th call, and every 250th call erased afterwards (crypto-shredded:
key, rows and blob gone, a ``call.erase`` entry).

The calls are stored by ``workers`` spawned processes, each on a shard of the indices,
each with its own connection to the same vault (the database serialises the audit chain).

Each bench runs as a script, so this folder is on ``sys.path`` and ``import _many_calls``
finds this file::

    python bench/_many_calls.py --calls 300 [--postgresql]   # builds one, prints, drops it
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from _scaleout import private_database
from _telephone import RATE, line_noise, write_g711
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import (
    CallMetadata,
    CapturedCall,
    FileImportOptions,
    Participant,
    import_bytes,
)
from callvault.config import Config, load_config
from callvault.vault import Vault

BACKENDS = ("sqlite", "postgresql")
POOL_SECONDS = 60
COUNTER = 8  # the last bytes of each call's samples: its index, so none is a duplicate
RETENTION_EVERY, HOLD_EVERY, ERASE_EVERY = 10, 500, 250
PHRASES = (
    ("thank you for calling how can i help", "i would like to check my order"),
    ("good morning this is the support line", "my device does not start"),
    ("hello you are through to billing", "i have a question about my invoice"),
)
Hook = Callable[[str], None]


@dataclass(frozen=True)
class ManyCallsOptions:
    """How many calls, how long, and how many processes store them."""

    calls: int = 10_000
    seconds: float = 2.0
    workers: int = 2
    transcripts: bool = True
    first: int = 0  # index of the first call: a later batch must not repeat earlier bytes


@dataclass(frozen=True)
class ManyCalls:
    """A built vault: where it lives and what it holds."""

    backend: str
    data_dir: Path
    database_url: str | None  # None: SQLite under data_dir
    stored: int  # calls stored
    erased: int
    held: int
    retained: int  # calls with a retention date
    wav_bytes: int  # size of each call's WAV
    build_s: float

    @property
    def calls(self) -> int:
        """The calls the vault holds now."""
        return self.stored - self.erased

    def config(self) -> Config:
        return vault_config(self.data_dir, self.database_url)

    def env(self) -> dict[str, str]:
        """The CALLVAULT_* settings of this vault, for a `callvault` subprocess."""
        env = {"CALLVAULT_DATA_DIR": str(self.data_dir), "CALLVAULT_LOG_LEVEL": "WARNING"}
        if self.database_url is not None:
            env["CALLVAULT_DATABASE_URL"] = self.database_url
        return env


def vault_config(data_dir: Path, database_url: str | None) -> Config:
    return load_config(env={}, data_dir=data_dir, database_url=database_url, actor="bench")


# -- the audio -----------------------------------------------------------------------------


def audio_pool(seed: int = 21) -> bytes:
    """`POOL_SECONDS` of interleaved stereo mu-law samples: line noise and a tone a channel."""
    n = POOL_SECONDS * RATE
    t = np.arange(n, dtype=np.float32) / RATE
    channels = np.stack(
        [
            line_noise(n, -30.0, seed) + 0.05 * np.sin(2 * np.pi * 440 * t),
            line_noise(n, -30.0, seed + 1) + 0.05 * np.sin(2 * np.pi * 697 * t),
        ]
    ).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="callvault-bench-pool-") as tmp:
        path = Path(tmp) / "pool.wav"
        write_g711(path, channels, "ulaw")
        return wav_samples(path.read_bytes())


def wav_samples(wav: bytes) -> bytes:
    """The bytes of a WAV's `data` chunk (RIFF chunks: 4-byte id, 4-byte little-endian size)."""
    at = 12
    while at + 8 <= len(wav):
        size = int.from_bytes(wav[at + 4 : at + 8], "little")
        if wav[at : at + 4] == b"data":
            return wav[at + 8 : at + 8 + size]
        at += 8 + size + (size & 1)
    raise ValueError("no data chunk in the WAV")


def mulaw_wav(samples: bytes) -> bytes:
    """A stereo 8 kHz WAV of mu-law `samples` (WAVE_FORMAT_MULAW, 7), with a fact chunk."""
    frames = len(samples) // 2
    fmt = (
        (7).to_bytes(2, "little")
        + (2).to_bytes(2, "little")
        + RATE.to_bytes(4, "little")
        + (2 * RATE).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (8).to_bytes(2, "little")
        + (0).to_bytes(2, "little")
    )
    chunks = (
        b"fmt " + len(fmt).to_bytes(4, "little") + fmt,
        b"fact" + (4).to_bytes(4, "little") + frames.to_bytes(4, "little"),
        b"data" + len(samples).to_bytes(4, "little") + samples,
    )
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def call_samples(pool: bytes, index: int, size: int) -> bytes:
    """`size` bytes of the pool from a place of its own, ending in the call's counter."""
    span = len(pool) - size
    at = (index * 7919 * 2) % span & ~1  # whole stereo frames
    return pool[at : at + size - COUNTER] + index.to_bytes(COUNTER, "little")


def transcript(index: int, seconds: float) -> Transcript:
    agent, customer = PHRASES[index % len(PHRASES)]
    half = seconds / 2
    return Transcript(
        "done",
        "en",
        "bench",
        "1",
        (
            _utterance("agent", 0, 0.0, half, agent),
            _utterance("customer", 1, half, seconds, customer),
        ),
        True,
    )


def _utterance(speaker: str, channel: int, start: float, end: float, text: str) -> Utterance:
    words = text.split()
    step = (end - start) / len(words)
    timed = tuple(
        Word(start + i * step, start + (i + 1) * step, w, 0.9) for i, w in enumerate(words)
    )
    return Utterance(speaker, channel, start, end, text, 0.9, timed)


# -- storing -------------------------------------------------------------------------------


def _store_shard(
    data_dir: str, database_url: str | None, indices: list[int], seconds: float, transcripts: bool
) -> tuple[list[str], list[str], list[str]]:
    """Store the calls `indices` (in a spawned process). Returns the call ids of the calls
    to erase, to hold and those stored."""
    size = round(seconds * RATE) * 2
    pool = audio_pool()
    template = import_bytes(mulaw_wav(call_samples(pool, 0, size)), "t.wav", FileImportOptions())
    started = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    erase, hold, stored = [], [], []
    with Vault.open(vault_config(Path(data_dir), database_url)) as vault:
        for index in indices:
            wav = mulaw_wav(call_samples(pool, index, size))
            call: CapturedCall = replace(
                template,
                source_name=f"call-{index}.wav",
                open_audio=lambda wav=wav: io.BytesIO(wav),  # type: ignore[misc]
                metadata=CallMetadata(
                    direction="inbound",
                    agent=f"agent-{index % 20:02d}",
                    started_at=started + timedelta(minutes=7 * index),
                    language="en",
                ),
                participants=(
                    Participant("caller", phone=f"+1415555{100 + index % 100:04d}", channel=1),
                    Participant("callee", phone="+14155550100", channel=0, is_agent=True),
                ),
            )
            result = vault.calls.store_call(call)
            if result.duplicate:
                raise SystemExit(f"bench: call {index} was stored as a duplicate")
            call_id = result.call_id
            stored.append(call_id)
            if transcripts:
                document = transcript(index, seconds)
                vault.transcripts.store_transcript(
                    call_id,
                    document.to_json().encode(),
                    status="done",
                    language="en",
                    model_name="bench",
                    model_version="1",
                    utterances=len(document.utterances),
                    words=sum(len(u.words) for u in document.utterances),
                )
            if index % RETENTION_EVERY == 3:
                until = started + timedelta(days=365 * 3 + index % 400)
                vault.holds.set_retention(call_id, "standard", until)
            if index % HOLD_EVERY == 7:
                hold.append(call_id)
            elif index % ERASE_EVERY == 11:
                erase.append(call_id)
    return erase, hold, stored


def store_calls(config: Config, options: ManyCallsOptions, hook: Hook = print) -> ManyCalls:
    """Store `options.calls` calls into the vault of `config` (initialised here if new),
    then hold and erase some; `hook` gets a line of progress now and then."""
    began = time.monotonic()
    Vault.init(config)[0].close()
    indices = list(range(options.first, options.first + options.calls))
    batch = max(1, min(500, options.calls // (4 * options.workers) or 1))
    batches = [indices[i : i + batch] for i in range(0, len(indices), batch)]
    url = config.database_url
    erase, hold, done = [], [], 0
    # An executor, not a Pool: a worker that dies fails the build instead of hanging it.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(options.workers, mp_context=spawn) as pool:
        shards = [
            pool.submit(
                _store_shard, str(config.data_dir), url, b, options.seconds, options.transcripts
            )
            for b in batches
        ]
        for shard in as_completed(shards):
            to_erase, to_hold, stored = shard.result()
            erase += to_erase
            hold += to_hold
            done += len(stored)
            rate = done / (time.monotonic() - began)
            hook(f"  {done}/{options.calls} calls stored ({rate:.0f}/s)")
    with Vault.open(config) as vault:
        for call_id in hold:
            vault.holds.add_hold(call_id, reason="bench: litigation hold")
        if erase:
            vault.calls.delete_calls(erase, reason="bench: erasure request")
    return ManyCalls(
        backend="sqlite" if url is None else "postgresql",
        data_dir=config.data_dir,
        database_url=url,
        stored=options.calls,
        erased=len(erase),
        held=len(hold),
        retained=sum(1 for i in indices if i % RETENTION_EVERY == 3),
        wav_bytes=len(mulaw_wav(bytes(round(options.seconds * RATE) * 2))),
        build_s=time.monotonic() - began,
    )


@contextmanager
def many_calls(
    root: Path, backend: str, options: ManyCallsOptions, hook: Hook = print
) -> Iterator[ManyCalls]:
    """A new vault of many calls under `root` (PostgreSQL: a database of its own on the
    local server, dropped when the block ends)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    data_dir = root / f"vault-{backend}"
    if backend == "sqlite":
        yield store_calls(vault_config(data_dir, None), options, hook)
        return
    with private_database() as url:
        yield store_calls(vault_config(data_dir, url), options, hook)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    options = ManyCallsOptions(calls=args.calls, workers=args.workers)
    backend = "postgresql" if args.postgresql else "sqlite"
    with (
        tempfile.TemporaryDirectory(prefix="callvault-bench-many-") as tmp,
        many_calls(Path(tmp), backend, options) as built,
    ):
        print(built, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
