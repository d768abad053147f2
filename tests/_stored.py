"""Helpers for tests that work on stored calls: a hand-made transcript with its search
rows (no speech recognition needed), search hits, and the stored audio as samples."""

from __future__ import annotations

import io
import wave

import numpy as np

from callvault.analysis import Transcript, Utterance
from callvault.search import IndexRow, SearchIndex
from callvault.vault import Vault


def transcribe(vault: Vault, call_id: str, *utterances: Utterance, role: str | None = None) -> None:
    """Store `utterances` as the call's transcript and index them, in one transaction."""
    transcript = Transcript("done", "en", "test", "1", tuple(utterances), False)
    rid = vault.get_call(call_id).recording.id
    rows = [
        IndexRow(call_id, rid, n, u.speaker, role, None, "en", None, u.start, u.end, u.text)
        for n, u in enumerate(utterances)
    ]
    index = SearchIndex(vault.engine)
    vault.store_transcript(
        call_id,
        transcript.to_json().encode(),
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=len(utterances),
        words=sum(len(u.words) for u in utterances),
        within=lambda session: index.index_utterances(session, rows),
    )


def hits(vault: Vault, query: str) -> list[str]:
    return [h.call_id for h in SearchIndex(vault.engine).search(query)]


def stored_frames(vault: Vault, call_id: str) -> np.ndarray:
    """The stored WAV audio as int16, shape (frames, channels)."""
    with vault.open_recording(call_id) as reader:
        data = b"".join(reader.iter_chunks())
    with wave.open(io.BytesIO(data)) as wav:
        raw = wav.readframes(wav.getnframes())
        return np.frombuffer(raw, "<i2").reshape(-1, wav.getnchannels())
