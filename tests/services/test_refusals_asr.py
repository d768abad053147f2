"""A spoken refusal found by real processing (Whisper tiny.en) in an imported call and
honoured: real read speech (OSR, eval-data) with "I don't want to be recorded" spoken by
espeak-ng between two sentences, at 8 kHz mono, on SQLite and PostgreSQL (issue 20)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from _audio import wav_bytes
from _stored import stored_frames
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.services import Context
from callvault.services.access import Principal
from callvault.services.process import process_call
from callvault.services.refusals import reverse_refusal
from callvault.vault import Vault

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
OSR = EVAL / "asr" / "en" / "OSR_us_000_0034_8k.wav"
RATE = 8000
HEAD_S = 7.5  # "A gold ring will please most any girl. The long journey home took a year."

pytestmark = pytest.mark.slow


def _refusing_call() -> tuple[bytes, float, float]:
    """The call's WAV, and where the synthesised refusal starts and ends (s)."""
    if not OSR.exists():
        pytest.fail(f"eval data missing: {OSR}")
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing (apt-get install espeak-ng)")
    with wave.open(str(OSR)) as source:
        assert source.getframerate() == RATE and source.getnchannels() == 1
        speech = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    spoken = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", "I don't want to be recorded."],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(spoken)) as synth:
        rate = synth.getframerate()
        voice = np.frombuffer(synth.readframes(synth.getnframes()), "<i2").astype(np.float64)
    frames = int(len(voice) * RATE / rate)
    voice8k = np.interp(np.arange(frames) * rate / RATE, np.arange(len(voice)), voice)
    gap = np.zeros(RATE // 2, np.int16)
    head = speech[: int(HEAD_S * RATE)]
    tail = speech[int(HEAD_S * RATE) : int((HEAD_S + 3.0) * RATE)]
    audio = np.concatenate([head, gap, voice8k.astype(np.int16), gap, tail])
    start = (len(head) + len(gap)) / RATE
    return wav_bytes(audio.reshape(-1, 1), RATE), start, start + frames / RATE


def test_processing_cuts_a_real_spoken_refusal_and_reverse_restores(
    config: Config, tmp_path: Path
) -> None:
    data, said_from, said_to = _refusing_call()
    settings = dataclasses.replace(
        config, on_withdrawal="keep-before", diarization="off", model_cache=tmp_path / "models"
    )
    with Vault.open(settings) as vault:
        opts = FileImportOptions(
            caller="+14155550100",
            callee="+442071838750",
            language="en",
            started_at="2026-03-01T09:30:00Z",
        )
        call_id = vault.calls.store_call(import_bytes(data, "refusal.wav", opts)).call_id
        original = stored_frames(vault, call_id)
        consent = vault.consent.record_consent(
            "+442071838750", method="verbal", scopes=["record"], call_id=call_id
        )
        ctx = Context(settings, vault, principal=Principal("cora", "compliance"))

        result = process_call(ctx, call_id)

        detection = result.refusal
        assert detection is not None, "tiny.en did not hear the refusal"
        assert (detection.status, detection.outcome) == ("applied", "cut")
        assert said_from - 0.3 <= detection.start <= said_to
        cut_at = round(detection.start * RATE)
        cut = stored_frames(vault, call_id)
        assert cut.shape == (cut_at, 1) and np.array_equal(cut, original[:cut_at])
        document = json.loads(vault.transcripts.read_transcript(call_id) or b"")
        words = [w for u in document["utterances"] for w in u["words"]]
        assert words and max(w[1] for w in words) <= detection.start
        text = " ".join(w[2] for w in words).lower()
        assert "gold ring" in text and "recorded" not in text
        (record,) = vault.consent.consents(call_id=call_id)
        assert record.id == consent.id and not record.active
        assert len(vault.audit_entries(action="recording.cut")) == 1

        view = reverse_refusal(ctx, detection.id, reason="false detection")

        assert view.detection.status == "reversed"
        assert np.array_equal(stored_frames(vault, call_id), original)
        (record,) = vault.consent.consents(call_id=call_id)
        assert record.active
        assert vault.verify_audit().ok
