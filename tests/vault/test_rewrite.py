"""Rewriting a recording under a new data key: cut or silenced, old ciphertext shredded."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _audio import encode, tone, wav_bytes
from _stored import decrypt_copy
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import ErasureRefused, InputError, IntegrityError, KeyDestroyed
from callvault.media._edit import AudioEdit, CutAt, SilenceChannels, decode_pcm
from callvault.vault import BlobReader, RewriteResult, TranscriptRewrite, Vault

RATE = 8000
CALLER, CALLEE = "+14155550100", "+442071838750"


def store(vault: Vault, data: bytes, name: str = "call.wav") -> str:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    return vault.calls.store_call(import_bytes(data, name, opts)).call_id


def samples(data: bytes) -> np.ndarray:
    """int16 samples of a WAV file, shape (channels, frames)."""
    with wave.open(io.BytesIO(data)) as wav:
        raw = wav.readframes(wav.getnframes())
        return np.frombuffer(raw, "<i2").reshape(-1, wav.getnchannels()).T


def stored_audio(vault: Vault, call_id: str) -> bytes:
    with vault.calls.open_recording(call_id) as reader:
        return b"".join(reader.iter_chunks())


def blob_path(vault: Vault, key: str) -> Path:
    return vault.config.data_dir / "blobs" / key[:2] / key


def blob_key(vault: Vault, call_id: str) -> str:
    with vault.engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT blob_key FROM recordings WHERE call_id = '{call_id}'"
        ).one()
    return str(row[0])


def wrapped_key(vault: Vault, recording_id: str) -> bytes:
    with vault.engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT wrapped FROM data_keys WHERE recording_id = '{recording_id}'"
        ).one()
    return bytes(row[0])


def rewrite_audio(vault: Vault, call_id: str, edit: AudioEdit, **options: Any) -> RewriteResult:
    """A rewrite that drops the transcript and insights: prepared, then committed."""
    return vault.rewrites.commit_rewrite(vault.rewrites.prepare_rewrite(call_id, edit, **options))


def decrypt_transcript(vault: Vault, recording_id: str, ciphertext: bytes) -> bytes:
    """`decrypt_copy` for a transcript blob (its associated data differ)."""
    with vault._read() as session:
        dek = vault._data_key(session, recording_id)
    reader = BlobReader(io.BytesIO(ciphertext), len(ciphertext), dek, f"{recording_id}/transcript")
    return b"".join(reader.iter_chunks())


def test_cut_keeps_the_id_and_shreds_the_old_key(vault: Vault) -> None:
    original = wav_bytes(tone(1.0, RATE, 2, 3), RATE)
    call_id = store(vault, original)
    before = vault.calls.get_call(call_id)
    rid = before.recording.id
    old_key = blob_key(vault, call_id)
    old_copy = blob_path(vault, old_key).read_bytes()
    old_wrapped = wrapped_key(vault, rid)

    result = rewrite_audio(vault, call_id, CutAt(0.25), action="recording.cut", reason="withdrawn")

    after = vault.calls.get_call(call_id)
    assert after.recording.id == rid
    assert after.recording.frames == 2000 and result.frames == 2000
    assert (after.recording.container, after.recording.codec) == ("wav", "pcm_s16le")
    assert after.legs == before.legs and after.participants == before.participants
    assert wrapped_key(vault, rid) != old_wrapped
    assert result.old_key_fingerprint != result.new_key_fingerprint
    new_key = blob_key(vault, call_id)
    assert new_key != old_key and not blob_path(vault, old_key).exists()
    # A copy of the old ciphertext cannot be read with the key the vault now holds.
    with pytest.raises(IntegrityError, match="fails authentication"):
        decrypt_copy(vault, rid, old_copy)
    cut = samples(stored_audio(vault, call_id))
    assert np.array_equal(cut, samples(original)[:, :2000])
    assert all(r.ok for r in vault.calls.verify())
    assert vault.verify_audit().ok
    (entry,) = vault.audit_entries(action="recording.cut")
    assert entry.purpose == "withdrawn" and entry.object_id == call_id
    assert entry.details["method"] == "crypto-shredding"
    assert entry.details["data_keys"] == [{"id": rid, "wrapped_under": before.recording.kek_id}]
    assert [b["key"] for b in entry.details["blobs"]] == [old_key]
    assert entry.details["edit"] == {"edit": "cut", "at_s": 0.25}
    assert entry.details["old_key_fingerprint"] == result.old_key_fingerprint
    reads = vault.audit_entries(action="recording.read", object_id=rid)
    assert reads[0].purpose == "withdrawn"


def test_silence_keeps_the_other_channel_bit_exact(vault: Vault) -> None:
    original = wav_bytes(tone(0.5, RATE, 2, 4), RATE)
    call_id = store(vault, original)
    rewrite_audio(vault, call_id, SilenceChannels((0,)), action="recording.erase-leg", reason="r")
    after = samples(stored_audio(vault, call_id))
    assert after.shape == (2, 4000)
    assert not after[0].any()
    assert np.array_equal(after[1], samples(original)[1])
    assert all(r.ok for r in vault.calls.verify(call_id))


def test_transcript_is_rewritten_under_the_new_key(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 5), RATE))
    rid = vault.transcripts.store_transcript(
        call_id,
        b'{"said": "before after"}',
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=2,
        words=2,
    )
    transcripts = vault.config.data_dir / "blobs"
    (old_blob,) = [p for p in transcripts.rglob("*.t*") if p.is_file()]
    old_copy = old_blob.read_bytes()
    seen: list[bytes] = []

    def rewrite(document: bytes) -> TranscriptRewrite:
        seen.append(document)
        return TranscriptRewrite(b'{"said": "before"}', "done", 1, 1, 1)

    plan = vault.rewrites.prepare_rewrite(
        call_id, CutAt(0.1), action="recording.cut", reason="r", transcript=True
    )
    assert plan.transcript is not None
    result = vault.rewrites.commit_rewrite(plan, transcript=rewrite(plan.transcript))
    assert seen == [b'{"said": "before after"}']
    assert vault.transcripts.read_transcript(call_id) == b'{"said": "before"}'
    info = vault.transcripts.transcript_info(call_id)
    assert info is not None and (info.utterances, info.words) == (1, 1)
    assert result.removed_utterances == 1
    assert not old_blob.exists()
    with pytest.raises(IntegrityError, match="fails authentication"):
        decrypt_transcript(vault, rid, old_copy)
    assert all(r.ok for r in vault.calls.verify())


def test_compressed_recording_becomes_wav(vault: Vault) -> None:
    call_id = store(vault, encode("flac", seconds=1.0, channels=2), "call.flac")
    rewrite_audio(vault, call_id, CutAt(0.5), action="recording.cut", reason="r")
    record = vault.calls.get_call(call_id)
    assert (record.recording.container, record.recording.frames) == ("wav", 8000)
    pcm, rate = decode_pcm(io.BytesIO(stored_audio(vault, call_id)), name="t")
    assert (pcm.shape, rate) == ((2, 8000), 16000)
    assert all(r.ok for r in vault.calls.verify())


def test_held_call_is_refused_and_left_alone(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 6), RATE))
    before = stored_audio(vault, call_id)
    hold = vault.holds.add_hold(call_id, reason="Smith v Acme")
    with pytest.raises(ErasureRefused, match=f"legal hold {hold.id}"):
        rewrite_audio(vault, call_id, CutAt(0.1), action="recording.cut", reason="r")
    assert stored_audio(vault, call_id) == before
    assert vault.audit_entries(action="recording.cut") == []


def test_failure_leaves_the_old_state(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 7), RATE))
    before = stored_audio(vault, call_id)
    blobs = sorted(p.name for p in (vault.config.data_dir / "blobs").rglob("*") if p.is_file())

    plan = vault.rewrites.prepare_rewrite(call_id, CutAt(0.1), action="recording.cut", reason="r")
    with pytest.raises(RuntimeError, match="index down"), vault.transaction() as tx:
        vault.rewrites.commit_rewrite(plan, tx=tx)
        raise RuntimeError("index down")  # the search index, written in the same unit
    assert stored_audio(vault, call_id) == before
    after = sorted(p.name for p in (vault.config.data_dir / "blobs").rglob("*") if p.is_file())
    assert after == blobs
    assert all(r.ok for r in vault.calls.verify())


def test_edits_that_keep_nothing_are_refused(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 8), RATE))
    with pytest.raises(InputError, match="would leave nothing"):
        rewrite_audio(vault, call_id, CutAt(0.0), action="recording.cut", reason="r")
    with pytest.raises(InputError, match="would leave nothing"):
        rewrite_audio(vault, call_id, SilenceChannels((0, 1)), action="x", reason="r")
    with pytest.raises(InputError, match="channel 2 does not exist"):
        rewrite_audio(vault, call_id, SilenceChannels((2,)), action="x", reason="r")


def test_erased_call_cannot_be_rewritten(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 9), RATE))
    rid = vault.calls.get_call(call_id).recording.id
    vault.calls.delete_call(call_id, reason="gone")
    with pytest.raises(Exception, match="does not exist"):
        rewrite_audio(vault, call_id, CutAt(0.1), action="recording.cut", reason="r")
    with pytest.raises(KeyDestroyed):
        decrypt_copy(vault, rid, b"")
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert CALLER not in chain


@pytest.mark.parametrize("kind", ["wav-alaw", "mp3", "ogg-opus", "m4a-aac"])
def test_every_imported_format_can_be_cut(vault: Vault, kind: str) -> None:
    call_id = store(vault, encode(kind, seconds=1.0, channels=2), f"call.{kind}")
    rate = vault.calls.get_call(call_id).recording.sample_rate
    rewrite_audio(vault, call_id, CutAt(0.5), action="recording.cut", reason="r")
    record = vault.calls.get_call(call_id)
    assert (record.recording.codec, record.recording.channels) == ("pcm_s16le", 2)
    assert (record.recording.sample_rate, record.recording.frames) == (rate, rate // 2)
    assert all(r.ok for r in vault.calls.verify())


def test_a_transcript_stored_meanwhile_stops_the_rewrite(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 10), RATE))
    before = stored_audio(vault, call_id)

    def put(document: bytes, status: str = "done") -> None:
        vault.transcripts.store_transcript(
            call_id,
            document,
            status=status,
            language="en",
            model_name="test",
            model_version="1",
            utterances=1,
            words=1,
        )

    put(b"first")

    def rewrite(document: bytes) -> TranscriptRewrite:
        put(b"second")  # a transcription job finishing while the rewrite runs
        return TranscriptRewrite(b"first, cut", "done", 1, 1, 0)

    plan = vault.rewrites.prepare_rewrite(
        call_id, CutAt(0.1), action="recording.cut", reason="r", transcript=True
    )
    assert plan.transcript is not None
    with pytest.raises(IntegrityError, match="changed while it was being rewritten"):
        vault.rewrites.commit_rewrite(plan, transcript=rewrite(plan.transcript))
    assert vault.transcripts.read_transcript(call_id) == b"second"
    assert stored_audio(vault, call_id) == before
    assert vault.collect_garbage(min_age_s=0).orphaned_blobs == ()
    assert all(r.ok for r in vault.calls.verify())


def test_no_blob_is_left_behind(vault: Vault) -> None:
    call_id = store(vault, wav_bytes(tone(0.5, RATE, 2, 11), RATE))
    rewrite_audio(vault, call_id, CutAt(0.2), action="recording.cut", reason="r")
    rewrite_audio(vault, call_id, SilenceChannels((1,)), action="recording.erase-leg", reason="r")
    report = vault.collect_garbage(min_age_s=0)
    assert report.orphaned_blobs == () and report.incomplete_writes == 0
    files = [p for p in (vault.config.data_dir / "blobs").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [blob_key(vault, call_id)]
