"""The vault on SQLite and PostgreSQL: store, read, verify, shred, rotate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from _audio import tone, wav_bytes
from _context import as_context
from _stored import decrypt_copy
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import KeyDestroyed, NotFound
from callvault.services import export_audio
from callvault.vault import Vault
from callvault.vault._models import DataKeyRow, ManifestRow, RecordingRow


def stereo_call(seed: int = 0, seconds: float = 2.0, **options: str):
    data = wav_bytes(tone(seconds, 8000, 2, seed), 8000)
    opts = FileImportOptions(
        caller=options.get("caller", "+14155550100"),
        callee=options.get("callee", "+442071838750"),
        direction=options.get("direction", "inbound"),
        agent=options.get("agent", "alice"),
        started_at=options.get("started_at", "2026-03-01T09:30:00+01:00"),
        language=options.get("language", "en"),
    )
    return data, import_bytes(data, f"call-{seed}.wav", opts)


def blob_path(vault: Vault, recording_id: str) -> Path:
    return vault.config.data_dir / "blobs" / recording_id[:2] / recording_id


def test_store_and_show(vault: Vault) -> None:
    data, call = stereo_call()
    stored = vault.calls.store_call(call)
    assert not stored.duplicate
    record = vault.calls.get_call(stored.call_id, purpose="review").to_json()
    assert record["schema"] == "callvault.call/1"
    assert record["direction"] == "inbound"
    assert record["agent"] == "alice"
    assert record["started_at"] == "2026-03-01T08:30:00+00:00"
    assert record["language"] == "en"
    rec = record["recording"]
    assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec["size_bytes"] == len(data)
    assert (rec["codec"], rec["sample_rate"], rec["channels"]) == ("pcm_s16le", 8000, 2)
    assert rec["duration_s"] == 2.0
    assert rec["encryption"]["cipher"] == "AES-256-GCM"
    roles = [(p["role"], p["phone"], p["is_agent"]) for p in record["participants"]]
    assert roles == [("caller", "+14155550100", False), ("callee", "+442071838750", True)]
    by_id = {p["id"]: p["role"] for p in record["participants"]}
    assert [(leg["channel"], by_id[leg["participant_id"]]) for leg in record["legs"]] == [
        (0, "caller"),
        (1, "callee"),
    ]
    actions = [(e.action, e.purpose) for e in vault.audit_entries(object_id=stored.call_id)]
    assert actions == [("call.ingest", None), ("call.show", "review")]


def test_same_bytes_twice_store_nothing_twice(vault: Vault) -> None:
    _, call = stereo_call()
    first = vault.calls.store_call(call)
    blobs = sorted(p.name for p in (vault.config.data_dir / "blobs").rglob("*") if p.is_file())
    second = vault.calls.store_call(call)
    assert second.duplicate
    assert (second.call_id, second.recording_id) == (first.call_id, first.recording_id)
    assert len(vault.calls.list_calls()) == 1
    after = sorted(p.name for p in (vault.config.data_dir / "blobs").rglob("*") if p.is_file())
    assert after == blobs == [first.recording_id]


def test_no_plaintext_in_data_dir(vault: Vault) -> None:
    data, call = stereo_call()
    vault.calls.store_call(call)
    needle = data[1000:1064]  # 64 bytes of raw PCM
    for path in vault.config.data_dir.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_export_is_bit_exact_and_audited(vault: Vault, tmp_path: Path) -> None:
    data, call = stereo_call()
    stored = vault.calls.store_call(call)
    out = tmp_path / "out.wav"
    assert export_audio(as_context(vault), stored.call_id, out, purpose="QA") == len(data)
    assert out.read_bytes() == data
    (entry,) = vault.audit_entries(action="recording.export")
    assert (entry.object_id, entry.purpose) == (stored.recording_id, "QA")
    with vault.calls.open_recording(stored.call_id, purpose="listen") as reader:
        assert reader.read_range(44, 100) == data[44:144]
    assert vault.audit_entries()[-1].action == "recording.read"


def test_export_refuses_the_data_dir(vault: Vault) -> None:
    _, call = stereo_call()
    stored = vault.calls.store_call(call)
    target = vault.config.data_dir / "plain.wav"
    with pytest.raises(Exception, match="is inside the data directory, which holds only"):
        export_audio(as_context(vault), stored.call_id, target, purpose=None)
    assert not target.exists()


def test_unknown_call(vault: Vault) -> None:
    with pytest.raises(NotFound, match="^call nope does not exist; `callvault list` shows"):
        vault.calls.get_call("nope")


def test_verify_passes_then_names_each_fault(vault: Vault) -> None:
    ids = [vault.calls.store_call(stereo_call(seed)[1]) for seed in range(3)]
    assert all(r.ok for r in vault.calls.verify())
    # One byte of one blob.
    path = blob_path(vault, ids[0].recording_id)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    # One byte of another recording's manifest.
    with Session(vault.engine) as session, session.begin():
        row = session.get(ManifestRow, ids[1].recording_id)
        assert row is not None
        row.body = row.body.replace('"channels":2', '"channels":3')
    results = {r.recording_id: r for r in vault.calls.verify()}
    assert results[ids[2].recording_id].ok
    assert results[ids[0].recording_id].faults == (
        f"recording {ids[0].recording_id}: the encrypted blob does not match its recorded hash "
        "(the ciphertext was changed)",
        f"recording {ids[0].recording_id}: chunk 0 of the blob fails authentication (the "
        "ciphertext was changed or damaged)",
    )
    assert results[ids[1].recording_id].faults == (
        f"recording {ids[1].recording_id}: the manifest's signature does not verify (the "
        "manifest was changed)",
    )
    (single,) = vault.calls.verify(ids[2].call_id)
    assert single.ok


def test_verify_catches_database_metadata_change(vault: Vault) -> None:
    stored = vault.calls.store_call(stereo_call()[1])
    with Session(vault.engine) as session, session.begin():
        session.execute(
            update(RecordingRow).where(RecordingRow.id == stored.recording_id).values(frames=1)
        )
    (result,) = vault.calls.verify()
    assert result.faults == (
        f"recording {stored.recording_id}: the database's frames does not match the signed "
        "manifest",
    )


def test_verify_missing_blob(vault: Vault) -> None:
    stored = vault.calls.store_call(stereo_call()[1])
    blob_path(vault, stored.recording_id).unlink()
    (result,) = vault.calls.verify()
    assert result.faults == (f"recording {stored.recording_id}: its encrypted blob is missing",)


def test_delete_crypto_shreds(vault: Vault, backend: str) -> None:
    data, call = stereo_call()
    stored = vault.calls.store_call(call)
    keep = vault.calls.store_call(stereo_call(seed=9)[1])
    ciphertext = blob_path(vault, stored.recording_id).read_bytes()
    assert decrypt_copy(vault, stored.recording_id, ciphertext) == data
    with Session(vault.engine) as session:
        wrapped = session.scalars(
            select(DataKeyRow.wrapped).where(DataKeyRow.recording_id == stored.recording_id)
        ).one()
    vault.calls.delete_call(stored.call_id, reason="customer asked")
    with pytest.raises(KeyDestroyed, match="its data key was destroyed; the audio is erased"):
        decrypt_copy(vault, stored.recording_id, ciphertext)
    assert not blob_path(vault, stored.recording_id).exists()
    with pytest.raises(NotFound):
        vault.calls.get_call(stored.call_id)
    if backend == "sqlite":
        # secure_delete + WAL checkpoint: the wrapped key is not left in free pages.
        db = vault.config.data_dir / "callvault.db"
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                assert wrapped not in path.read_bytes()
    erase = vault.audit_entries(action="call.erase")[-1]
    assert (erase.object_id, erase.purpose) == (stored.call_id, "customer asked")
    assert erase.details["recordings"] == [stored.recording_id]
    assert [r.call_id for r in vault.calls.verify()] == [keep.call_id]
    assert vault.verify_audit().ok


def test_rotate_rewraps_without_reencrypting(vault: Vault) -> None:
    data, call = stereo_call()
    stored = vault.calls.store_call(call)
    blob_before = blob_path(vault, stored.recording_id).read_bytes()
    old = vault.keyring.current_id()
    result = vault.rotate_keys()
    assert result.rewrapped == 1 and result.retired == (old,)
    assert vault.keyring.current_id() == result.new_kek_id
    assert vault.keyring.key_ids() == [result.new_kek_id]
    assert blob_path(vault, stored.recording_id).read_bytes() == blob_before
    assert all(r.ok for r in vault.calls.verify())
    assert decrypt_copy(vault, stored.recording_id, blob_before) == data
    assert vault.calls.get_call(stored.call_id).recording.kek_id == result.new_kek_id
    # New recordings go under the new key.
    second = vault.calls.store_call(stereo_call(seed=3)[1])
    assert vault.calls.get_call(second.call_id).recording.kek_id == result.new_kek_id


def test_reopen_keeps_everything(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Vault.open(config) as vault:
        stored = vault.calls.store_call(stereo_call()[1])
    with Vault.open(config) as vault:
        assert vault.calls.get_call(stored.call_id).id == stored.call_id
        assert all(r.ok for r in vault.calls.verify())
        assert vault.verify_audit().ok


def test_secret_files_are_private(vault: Vault) -> None:
    data_dir = vault.config.data_dir
    for path in [*data_dir.glob("keys/kek/*"), data_dir / "keys" / "signing.key"]:
        assert path.stat().st_mode & 0o077 == 0, path
    assert (data_dir / "keys").stat().st_mode & 0o077 == 0
    if vault.database_kind() == "sqlite":
        assert (data_dir / "callvault.db").stat().st_mode & 0o077 == 0


def test_schema_matches_models(vault: Vault) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import callvault.accounts  # noqa: F401 - declares the account tables on Base
    import callvault.contacts  # noqa: F401 - declares its `contacts` table on Base
    import callvault.jobs  # noqa: F401 - declares its `jobs` table on Base
    from callvault.vault import Base

    def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        # The dialect-specific search tables are not on Base (see migrations/env.py).
        return not (type_ == "table" and compare_to is None and name.startswith("search_"))

    with vault.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
        assert diff == []
        assert conn.execute(text("SELECT seq FROM audit_head")).scalar_one() == 0
