"""Transcripts: encrypted under the recording's data key, audited, erased with the call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _audio import tone, wav_bytes
from _stored import decrypt_copy
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import KeyDestroyed, NotFound
from callvault.vault import Vault

DOC = json.dumps({"utterances": [{"speaker": "agent", "text": "Grüß Gott, card 4111"}]}).encode()


def store(vault: Vault, seed: int = 0) -> str:
    data = wav_bytes(tone(1.0, 8000, 2, seed), 8000)
    return vault.calls.store_call(import_bytes(data, "t.wav", FileImportOptions())).call_id


def put(vault: Vault, call_id: str, doc: bytes = DOC, status: str = "done") -> str:
    return vault.transcripts.store_transcript(
        call_id,
        doc,
        status=status,
        language="de",
        model_name="whisper-base",
        model_version="1.0.0",
        utterances=1,
        words=4,
    )


def transcript_blobs(vault: Vault) -> list[Path]:
    return sorted(p for p in (vault.config.data_dir / "blobs").rglob("*.t*") if p.is_file())


def test_round_trip_is_encrypted_and_audited(vault: Vault) -> None:
    call_id = store(vault)
    assert vault.transcripts.transcript_info(call_id) is None
    assert vault.transcripts.read_transcript(call_id) is None
    rid = put(vault, call_id)
    info = vault.transcripts.transcript_info(call_id)
    assert info is not None
    assert (info.status, info.language, info.model_name, info.words) == (
        "done",
        "de",
        "whisper-base",
        4,
    )
    assert vault.transcripts.read_transcript(call_id, purpose="QA") == DOC
    (blob,) = transcript_blobs(vault)
    assert "Grüß".encode() not in blob.read_bytes() and b"4111" not in blob.read_bytes()
    actions = [(e.action, e.purpose) for e in vault.audit_entries(object_id=rid)]
    assert actions == [("transcript.store", None), ("transcript.read", "QA")]
    assert all(r.ok for r in vault.calls.verify())


def test_replacing_keeps_one_blob(vault: Vault) -> None:
    call_id = store(vault)
    put(vault, call_id)
    put(vault, call_id, b'{"utterances": []}', status="no_speech")
    assert vault.transcripts.read_transcript(call_id) == b'{"utterances": []}'
    assert len(transcript_blobs(vault)) == 1
    info = vault.transcripts.transcript_info(call_id)
    assert info is not None and info.status == "no_speech"


def test_erasing_the_call_erases_the_transcript(vault: Vault) -> None:
    call_id = store(vault)
    rid = put(vault, call_id)
    (blob,) = transcript_blobs(vault)
    copy = blob.read_bytes()
    vault.calls.delete_call(call_id, reason="erasure request")
    assert transcript_blobs(vault) == []
    with pytest.raises(NotFound):
        vault.transcripts.read_transcript(call_id)
    with pytest.raises(KeyDestroyed):
        decrypt_copy(vault, rid, copy)


def test_tampered_transcript_is_reported(vault: Vault) -> None:
    call_id = store(vault)
    rid = put(vault, call_id)
    (blob,) = transcript_blobs(vault)
    raw = bytearray(blob.read_bytes())
    raw[-3] ^= 1
    blob.write_bytes(bytes(raw))
    (result,) = vault.calls.verify()
    assert result.faults == (
        f"transcript of recording {rid}: the encrypted blob does not match its recorded hash "
        "(the ciphertext was changed)",
        f"recording {rid}/transcript: chunk 0 of the blob fails authentication (the ciphertext "
        "was changed or damaged)",
    )


def test_audio_blob_cannot_stand_in_for_the_transcript(vault: Vault) -> None:
    # Same data key, different associated data: swapping the files fails authentication.
    call_id = store(vault)
    rid = put(vault, call_id)
    (blob,) = transcript_blobs(vault)
    audio = vault.config.data_dir / "blobs" / rid[:2] / rid
    shutil.copyfile(audio, blob)
    with pytest.raises(Exception, match="fails authentication|damaged|truncated"):
        vault.transcripts.read_transcript(call_id)


def test_gc_keeps_transcripts(vault: Vault) -> None:
    call_id = store(vault)
    put(vault, call_id)
    report = vault.collect_garbage(min_age_s=0)
    assert report.orphaned_blobs == ()
    assert vault.transcripts.read_transcript(call_id) == DOC
