"""A stand-in for speech recognition, and calls to run it on: tests of what happens after
transcription (redaction, insights, corrections) need exact word times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from _audio import tone, wav_bytes
from callvault.analysis import PipelineParams, Transcript, TranscriptionPipeline, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.vault import Vault

RATE = 16000
AGENT_NUMBER, CUSTOMER_NUMBER = "+14155550100", "+442071838750"


def words_at(start: float, text: str, step: float = 0.3) -> tuple[Word, ...]:
    return tuple(
        Word(start + step * n, start + step * n + 0.25, w, 0.9) for n, w in enumerate(text.split())
    )


def said(speaker: str, channel: int, start: float, text: str) -> Utterance:
    words = words_at(start, text)
    return Utterance(speaker, channel, start, words[-1].end, text, 0.9, words)


CARD_CALL = (
    said("alice", 0, 0.2, "this call is recorded for quality what is your card number"),
    said("customer", 1, 3.6, "it is 4556 7375 8689 9855 thanks"),
    said("alice", 0, 5.8, "I will send the receipt tomorrow"),
)
EMAIL_CALL = (
    said("alice", 0, 0.2, "this call is recorded for quality what is your email"),
    said("customer", 1, 3.6, "jane dot doe at example dot com"),
    said("alice", 0, 6.2, "thank you I will write to you tomorrow"),
)


class ScriptedPipeline(TranscriptionPipeline):
    """A stand-in for speech recognition returning `utterances` (it reads the audio as
    the real one does, so the read is audited); `labels` is what processing named each
    channel's speaker."""

    def __init__(self, utterances: tuple[Utterance, ...]) -> None:
        super().__init__(PipelineParams(model_cache=Path("/nonexistent")))
        self.utterances = utterances
        self.labels: dict[int, str] | None = None

    def run(  # type: ignore[override]
        self,
        open_source: Callable[[], BinaryIO],
        *,
        channels_to_speakers: Mapping[int, str] | None = None,
        language: str | None = None,
        hook: Callable[[str, float], None] | None = None,
        name: str = "recording",
    ) -> Transcript:
        assert open_source().read(4) == b"RIFF"
        self.labels = dict(channels_to_speakers or {})
        return Transcript("done", "en", "scripted", "1", self.utterances, True)


def store(vault: Vault, seconds: float = 9.0) -> tuple[str, bytes]:
    """An outbound call of agent alice (channel 0) with a customer (channel 1)."""
    data = wav_bytes(tone(seconds, RATE, 2, seed=7), RATE)
    opts = FileImportOptions(
        caller=AGENT_NUMBER,
        callee=CUSTOMER_NUMBER,
        direction="outbound",
        agent="alice",
        started_at="2026-03-02T09:30:00Z",
        language="en",
    )
    call = import_bytes(data, "call.wav", opts)
    return vault.calls.store_call(call).call_id, data
