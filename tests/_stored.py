"""Helpers for tests that work on stored calls: a call of an agent stored from a tone, a
hand-made transcript with its search rows (no speech recognition needed), search hits,
and the stored audio as samples."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from _audio import tone, wav_bytes
from callvault.accounts import Accounts
from callvault.analysis import Transcript, Utterance
from callvault.capture import FileImportOptions, import_bytes
from callvault.search import IndexRow, SearchIndex
from callvault.vault import BlobReader, CallRow, RetentionInfo, Vault


def transcribe(vault: Vault, call_id: str, *utterances: Utterance, role: str | None = None) -> None:
    """Store `utterances` as the call's transcript and index them, in one transaction."""
    transcript = Transcript("done", "en", "test", "1", tuple(utterances), False)
    rid = vault.calls.get_call(call_id).recording.id
    rows = [
        IndexRow(call_id, rid, n, u.speaker, role, None, "en", None, u.start, u.end, u.text)
        for n, u in enumerate(utterances)
    ]
    index = SearchIndex(vault.engine, vault.search_key)
    with vault.transaction() as tx:
        vault.transcripts.store_transcript(
            call_id,
            transcript.to_json().encode(),
            status="done",
            language="en",
            model_name="test",
            model_version="1",
            utterances=len(utterances),
            words=sum(len(u.words) for u in utterances),
            tx=tx,
        )
        index.index_utterances(tx.session, rows)


def hits(vault: Vault, query: str) -> list[str]:
    return [h.call_id for h in SearchIndex(vault.engine, vault.search_key).search(query)]


def stored_frames(vault: Vault, call_id: str) -> np.ndarray:
    """The stored WAV audio as int16, shape (frames, channels)."""
    with vault.calls.open_recording(call_id) as reader:
        data = b"".join(reader.iter_chunks())
    with wave.open(io.BytesIO(data)) as wav:
        raw = wav.readframes(wav.getnframes())
        return np.frombuffer(raw, "<i2").reshape(-1, wav.getnchannels())


def agent_call(vault: Vault, agent: str, seed: int, seconds: float = 9.0) -> str:
    """Store a stereo tone call of `agent` (outbound, +14155550100 to +442071838750)."""
    data = wav_bytes(tone(seconds, 16000, 2, seed=seed), 16000)
    opts = FileImportOptions(
        caller="+14155550100",
        callee="+442071838750",
        direction="outbound",
        agent=agent,
        started_at="2026-03-02T09:30:00Z",
        language="en",
    )
    return vault.calls.store_call(import_bytes(data, f"{agent}.wav", opts)).call_id


PASSWORD = "correct horse battery"
# One user of each role; alice and bob are reps of team east, carol a rep of west.
PEOPLE: dict[str, tuple[str, str | None]] = {
    "root": ("admin", None),
    "cora": ("compliance", None),
    "mona": ("manager", "east"),
    "alice": ("rep", "east"),
    "bob": ("rep", "east"),
    "carol": ("rep", "west"),
    "otto": ("auditor", None),
}


def add_people(vault: Vault, scopes: list[str] | None = None) -> dict[str, str]:
    """Add the users of `PEOPLE` (password `PASSWORD`); with `scopes`, a bearer token
    each for a day. Returns username -> token secret (empty without `scopes`)."""
    tokens = {}
    for name, (role, team) in PEOPLE.items():
        Accounts(vault).add_user(name, PASSWORD, role, team=team)
        if scopes is not None:
            tokens[name] = Accounts(vault).create_token(name, "test", scopes, 1)[1]
    return tokens


def decrypt_copy(vault: Vault, recording_id: str, ciphertext: bytes) -> bytes:
    """Decrypt a copy of a recording's blob with its stored data key: what proves that a
    copy kept from before an erasure or rewrite no longer opens (KeyDestroyed, or an
    authentication failure under the new key)."""
    with vault.reading() as session:
        dek = vault._data_key(session, recording_id)
    reader = BlobReader(io.BytesIO(ciphertext), len(ciphertext), dek, recording_id)
    return b"".join(reader.iter_chunks())


def held_by(vault: Vault, call_id: str) -> list[str]:
    """The ids of the active legal holds that keep a call from being erased."""
    blocks = vault.holds.erasure_blocks([call_id], datetime.now(UTC))
    return [b.hold_id for b in blocks if b.rule == "legal-hold" and b.hold_id is not None]


def retention_of(vault: Vault, call_id: str) -> RetentionInfo:
    """A call's retention class and date, read from its row (no audited read)."""
    with vault.reading() as session:
        retention_class, until = session.execute(
            select(CallRow.retention_class, CallRow.retain_until).where(CallRow.id == call_id)
        ).one()
    return RetentionInfo(call_id, retention_class, until)
