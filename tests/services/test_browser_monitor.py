"""Live sessions of the in-browser recorder (issue 20), on SQLite and PostgreSQL, with the
real streaming engine (Whisper tiny.en) and the real live board: chunks in order, a
repeat ignored and a gap filled with silence, only the owner feeds or stops, an idle
session ends by itself, the words reach the board, and a spoken refusal ("I don't want
to be recorded", espeak-ng between two OSR sentences) comes back as `stop_at`."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from callvault.accounts import Accounts
from callvault.config import Config
from callvault.errors import InputError, NotAuthorized, NotFound
from callvault.services import Context
from callvault.services.access import Principal
from callvault.services.browser_monitor import (
    BROWSER_RATE,
    MAX_CHUNK_BYTES,
    BrowserMonitor,
    monitor_for,
    shutdown,
)
from callvault.services.live import LiveBoard
from callvault.vault import Vault

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
OSR = EVAL / "asr" / "en" / "OSR_us_000_0034_8k.wav"
HEAD_S = 7.5  # "A gold ring will please most any girl. The long journey home took a year."

ROB = Principal("rob", "rep", "emea")
TESS = Principal("tess", "rep", "emea")
MIA = Principal("mia", "manager", "emea")
AUDITOR = Principal("aud", "auditor")

pytestmark = pytest.mark.slow


def _to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    frames = int(len(pcm) * BROWSER_RATE / rate)
    up = np.interp(np.arange(frames) * rate / BROWSER_RATE, np.arange(len(pcm)), pcm)
    return np.clip(up, -32768, 32767).astype(np.int16)


def _osr() -> np.ndarray:
    if not OSR.exists():
        pytest.fail(f"eval data missing: {OSR}")
    with wave.open(str(OSR)) as source:
        speech = np.frombuffer(source.readframes(source.getnframes()), "<i2")
        return _to_16k(speech.astype(np.float64), source.getframerate())


def _refusing_speech() -> tuple[np.ndarray, float]:
    """16 kHz speech with a spoken refusal after HEAD_S; where the refusal starts."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing (apt-get install espeak-ng)")
    speech = _osr()
    spoken = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", "I don't want to be recorded."],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(spoken)) as synth:
        voice = np.frombuffer(synth.readframes(synth.getnframes()), "<i2")
        voice16 = _to_16k(voice.astype(np.float64), synth.getframerate())
    gap = np.zeros(BROWSER_RATE // 2, np.int16)
    head = speech[: int(HEAD_S * BROWSER_RATE)]
    tail = speech[int(HEAD_S * BROWSER_RATE) : int((HEAD_S + 3.0) * BROWSER_RATE)]
    return np.concatenate([head, gap, voice16, gap, tail]), HEAD_S + 0.5


def _chunks(pcm: np.ndarray, seconds: float = 0.5) -> Iterator[bytes]:
    step = int(seconds * BROWSER_RATE)
    for at in range(0, len(pcm), step):
        yield pcm[at : at + step].astype("<i2").tobytes()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(config: Config, tmp_path: Path) -> Config:
    import dataclasses

    return dataclasses.replace(config, model_cache=tmp_path / "models")


@pytest.fixture
def ctx(settings: Config) -> Iterator[Context]:
    with Vault.open(settings) as vault:
        accounts = Accounts(vault)
        accounts.add_user("rob", "correct horse battery staple", "rep", team="emea")
        accounts.add_user("tess", "correct horse battery staple", "rep", team="emea")
        accounts.add_user("mia", "correct horse battery staple", "manager", team="emea")
        yield Context(settings, vault)


def _wait_ended(board: LiveBoard, live_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while board.call(MIA, live_id).call.ended_at is None:
        assert time.monotonic() < deadline, "the live call never left the board"
        time.sleep(0.1)


def test_order_repeats_gaps_owner_and_stop(ctx: Context) -> None:
    clock = Clock()
    monitor = BrowserMonitor(ctx, clock=clock, sweep_every=0)
    try:
        with pytest.raises(NotAuthorized):
            monitor.start(AUDITOR)  # a role that never records calls
        started = monitor.start(ROB)
        assert started.session_id.startswith("bl_") and started.next_seq == 0
        assert started.live_id is not None
        board = LiveBoard(ctx)
        (view,) = board.active_calls(MIA)  # rob's manager sees it at once
        assert (view.call.id, view.call.source, view.call.agent) == (
            started.live_id,
            "browser",
            "rob",
        )
        assert view.call.to_json()["roles"] == {"0": "speaker"}

        chunks = list(_chunks(_osr()[: 4 * BROWSER_RATE]))
        sid = started.session_id
        state = monitor.feed(sid, ROB, 0, chunks[0])
        assert (state.next_seq, state.call_time, state.repeats, state.gaps) == (1, 0.5, 0, 0)
        # A retried POST: ignored, the clock unchanged.
        state = monitor.feed(sid, ROB, 0, chunks[0])
        assert (state.next_seq, state.call_time, state.repeats) == (1, 0.5, 1)
        # Chunk 1 lost: chunk 2 comes after half a second of silence in its place.
        state = monitor.feed(sid, ROB, 2, chunks[2])
        assert (state.next_seq, state.call_time, state.gaps) == (3, 1.5, 1)
        assert state.stop_at is None and state.paused == ()

        # Only the owner: to anyone else the session looks absent.
        with pytest.raises(NotFound, match="not open on this server process"):
            monitor.feed(sid, TESS, 3, chunks[3])
        with pytest.raises(NotFound):
            monitor.stop(sid, TESS)
        with pytest.raises(NotFound, match="another one"):
            monitor.feed("bl_nosuchsession", ROB, 0, chunks[0])
        # Bounded, whole samples.
        with pytest.raises(InputError, match=f"at most {MAX_CHUNK_BYTES} bytes"):
            monitor.feed(sid, ROB, 3, b"\x00" * (MAX_CHUNK_BYTES + 2))
        with pytest.raises(InputError, match="length must be even"):
            monitor.feed(sid, ROB, 3, b"\x00\x01\x02")
        with pytest.raises(InputError, match="seq must be 0 or more"):
            monitor.feed(sid, ROB, -1, chunks[3])

        ended = monitor.stop(sid, ROB)
        assert ended.ended and ended.next_seq == 3
        assert monitor.stop(sid, ROB).ended  # again: the same answer
        with pytest.raises(NotFound, match="has ended"):
            monitor.feed(sid, ROB, 3, chunks[3])
        monitor.wait_idle()
        _wait_ended(board, started.live_id)
        assert monitor.open_sessions == 0
    finally:
        monitor.close()


def test_an_idle_session_ends_by_itself(ctx: Context) -> None:
    clock = Clock()
    monitor = BrowserMonitor(ctx, clock=clock, idle_s=30, sweep_every=0)
    try:
        quiet = monitor.start(ROB)
        busy = monitor.start(TESS)
        chunk = next(_chunks(_osr()))
        clock.now += 20
        monitor.feed(busy.session_id, TESS, 0, chunk)
        assert monitor.sweep() == []
        clock.now += 15  # rob's: 35 s without audio; tess's: 15 s
        assert monitor.sweep() == [quiet.session_id]
        with pytest.raises(NotFound):
            monitor.feed(quiet.session_id, ROB, 0, chunk)
        assert monitor.feed(busy.session_id, TESS, 1, chunk).next_seq == 2
        monitor.wait_idle()
        assert quiet.live_id is not None
        _wait_ended(LiveBoard(ctx), quiet.live_id)
        assert [v.call.id for v in LiveBoard(ctx).active_calls(MIA)] == [busy.live_id]
    finally:
        monitor.close()
    # Closing ends the rest.
    assert busy.live_id is not None
    assert LiveBoard(ctx).call(MIA, busy.live_id).call.ended_at is not None


def test_words_reach_the_board_and_a_spoken_refusal_says_stop(ctx: Context) -> None:
    audio, refused_at = _refusing_speech()
    monitor = BrowserMonitor(ctx, sweep_every=0)
    try:
        started = monitor.start(ROB)
        sid = started.session_id
        fed = 0
        state = None
        for seq, chunk in enumerate(_chunks(audio)):
            state = monitor.feed(sid, ROB, seq, chunk)
            fed += 1
            if seq % 4 == 3:  # as a machine fast enough for real time would
                monitor.hub.engine.wait_idle(60)
        monitor.hub.engine.wait_idle(60)
        state = monitor.state(sid, ROB)
        assert state.stop_at is not None, "the live engine did not hear the refusal"
        assert refused_at - 1.0 <= state.stop_at <= refused_at + 2.0, state.stop_at
        # From the refusal on, audio is counted (the clock) but never transcribed.
        after = monitor.feed(sid, ROB, fed, next(_chunks(audio)))
        assert after.stop_at == state.stop_at and after.next_seq == fed + 1
        monitor.stop(sid, ROB)
        monitor.wait_idle()
        assert started.live_id is not None
        board = LiveBoard(ctx)
        _wait_ended(board, started.live_id)
        finals = " ".join(
            str(e.body["text"])
            for e in board.events_since(MIA, started.live_id)
            if e.kind == "final" and e.body
        ).lower()
        assert "gold ring" in finals and "journey" in finals
        view = board.call(MIA, started.live_id)
        assert "consent-refused" in [a.rule for a in view.alerts]
        (entry,) = ctx.vault.audit_entries(action="live.withdrawal")
        assert entry.object_id == started.live_id
        assert entry.details["by"] == "speech" and entry.details["session"] == sid
        # Figures only, never the words.
        assert set(entry.details) == {"session", "channel", "at_seconds", "confidence", "by"}
    finally:
        monitor.close()


def test_the_process_registry_is_per_storage(ctx: Context) -> None:
    first = monitor_for(ctx)
    assert monitor_for(ctx.acting_as(ROB)) is first
    shutdown(ctx)
    assert monitor_for(ctx) is not first
    shutdown(ctx)
