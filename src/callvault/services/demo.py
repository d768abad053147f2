"""A sample call of callvault's own, spoken by espeak-ng: two voices, one per channel."""

from __future__ import annotations

import io
import secrets
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from callvault.accounts import Accounts
from callvault.capture import CapturedCall, FileImportOptions, import_bytes
from callvault.errors import CallvaultError
from callvault.services._context import Context
from callvault.services.ingest import ingest_captured

__all__ = [
    "DEMO_ADMIN",
    "DEMO_OPTIONS",
    "DEMO_SCRIPT",
    "DemoSeed",
    "demo_call",
    "seed_demo",
    "synthesize_demo_wav",
]

DEMO_ADMIN = "admin"

# (channel, espeak-ng voice, line). Channel 0 is the caller (a customer), 1 the agent.
DEMO_SCRIPT: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "en-us+m3",
        "Thanks for calling Northwind support, this call is recorded for quality. How can I help?",
    ),
    (0, "en-gb+f3", "Hi, my router keeps dropping the connection every evening."),
    (1, "en-us+m3", "Sorry to hear that. I will send a replacement and call you back on Friday."),
    (
        0,
        "en-gb+f3",
        "Great. You can charge the delivery to my card, the number is four five five six, "
        "seven three seven five, eight six eight nine, nine eight five five.",
    ),
    (1, "en-us+m3", "Thank you, that is done."),
)

DEMO_OPTIONS = FileImportOptions(
    caller="+442071838750",
    callee="+442079460000",
    direction="inbound",
    agent="demo.agent",
    started_at="2026-01-15T10:00:00Z",
    language="en",
)

_RATE = 22050  # espeak-ng's native output rate
_GAP = int(0.4 * _RATE)


def _speak(voice: str, text: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CallvaultError(
            "espeak-ng is not installed; run `bash scripts/setup.sh` or `apt-get install espeak-ng`"
        )
    out = subprocess.run(
        [exe, "-v", voice, "-s", "165", "--stdout", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(out)) as wav:
        if wav.getframerate() != _RATE or wav.getsampwidth() != 2:
            raise CallvaultError("espeak-ng produced audio in an unexpected format")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def synthesize_demo_wav(script: Sequence[tuple[int, str, str]] = DEMO_SCRIPT) -> bytes:
    """A two-channel 16-bit WAV of `script` ((channel, espeak-ng voice, line) turns, one
    after another with 0.4 s between them), built in memory."""
    turns = [(channel, _speak(voice, line)) for channel, voice, line in script]
    total = sum(len(samples) + _GAP for _, samples in turns) + _GAP
    stereo = np.zeros((total, 2), dtype="<i2")
    cursor = _GAP
    for channel, samples in turns:
        stereo[cursor : cursor + len(samples), channel] = samples
        cursor += len(samples) + _GAP
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(_RATE)
        wav.writeframes(stereo.tobytes())
    return buffer.getvalue()


def demo_call() -> CapturedCall:
    return import_bytes(synthesize_demo_wav(), "demo-call.wav", DEMO_OPTIONS)


@dataclass(frozen=True)
class DemoSeed:
    """What `seed_demo` did: the sample call (queued unless stored before) and, when the
    vault had no users, the admin it created and that admin's one-time password."""

    call_id: str
    job_id: str | None
    username: str | None
    password: str | None


def seed_demo(ctx: Context) -> DemoSeed:
    """Store the sample call (once: the same sample again is the same call) for the
    workers to process, and create the user `admin` with a random password when the
    vault has no users yet (`callvault serve --demo`)."""
    (stored,) = ingest_captured(ctx, [demo_call()], consent="pre-call-notice", actor="system:demo")
    accounts = Accounts(ctx.vault)
    if accounts.list_users():
        return DemoSeed(stored.call_id, stored.job_id, None, None)
    password = secrets.token_urlsafe(12)
    accounts.add_user(DEMO_ADMIN, password, "admin", display_name="Demo admin")
    return DemoSeed(stored.call_id, stored.job_id, DEMO_ADMIN, password)
