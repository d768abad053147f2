"""Backups and restores (issue 21), on SQLite and PostgreSQL, into a real directory.

The restore goes into a new data directory and, on PostgreSQL, a new empty database made
for the test on the local server. Every check is made on the restored vault itself."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from _audio import tone, wav_bytes
from _config import make_config
from _context import as_context
from _stored import decrypt_copy, retention_of, transcribe
from callvault.analysis import Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import (
    BackupError,
    BackupIncomplete,
    ConfigError,
    KeyDestroyed,
    RecoveryKeyError,
    RestoreRefused,
)
from callvault.services import (
    create_backup,
    erase_subject,
    list_backups,
    make_identity,
    prune_backups,
    restore_backup,
    verify_backup,
)
from callvault.vault import Vault
from callvault.vault._models import DataKeyRow, RecordingRow

SUBJECT = "+14155550100"
OTHER = "+14155550199"
CALLEE = "+442071838750"


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "recovery" / "backup.key"
    path.parent.mkdir()
    return path, make_identity(path)


def with_keys(config: Config, identity: tuple[Path, str], **more: object) -> Config:
    return dataclasses.replace(
        config, backup_recipient=(identity[1],), backup_identity=identity[0], **more
    )


def restore_config(
    config: Config, tmp_path: Path, fresh_database: Callable[[], str], name: str = "restored"
) -> Config:
    url = fresh_database() if config.database_url else None  # a new, empty database
    return dataclasses.replace(
        make_config(tmp_path / name, url),
        backup_recipient=config.backup_recipient,
        backup_identity=config.backup_identity,
        backup_passphrase=config.backup_passphrase,
    )


def store(vault: Vault, seed: int, caller: str = SUBJECT) -> str:
    opts = FileImportOptions(caller=caller, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    data = wav_bytes(tone(0.5, 8000, 2, seed), 8000)
    return vault.calls.store_call(import_bytes(data, f"call-{seed}.wav", opts)).call_id


def say(vault: Vault, call_id: str, text_: str) -> None:
    words = tuple(Word(0.1 * i, 0.1 * i + 0.1, w, 0.9) for i, w in enumerate(text_.split()))
    transcribe(vault, call_id, Utterance("S1", 0, 0.0, 1.0, text_, 0.9, words))


def blob_key_of(vault: Vault, call_id: str) -> str:
    with vault.reading() as session:
        return str(
            session.scalars(
                select(RecordingRow.blob_key).where(RecordingRow.call_id == call_id)
            ).one()
        )


def audio_of(vault: Vault, call_id: str) -> bytes:
    with vault.calls.open_recording(call_id) as reader:
        return b"".join(reader.iter_chunks())


def test_round_trip_restores_calls_holds_retention_and_audit(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    config = with_keys(config, identity)
    target = str(tmp_path / "backups")
    until = datetime(2031, 1, 1, tzinfo=UTC)
    with Vault.open(config) as vault:
        calls = [store(vault, seed) for seed in range(3)]
        say(vault, calls[0], "please renew the contract today")
        hold = vault.holds.add_hold(call_id=calls[1], reason="case 7")
        vault.holds.set_retention(calls[2], "mifid", until)
        before = {c: audio_of(vault, c) for c in calls}
        result = create_backup(as_context(vault), to=target)
    assert result.calls == 3 and result.objects == 4 and result.objects_copied == 4
    restored = restore_config(config, tmp_path, fresh_database)
    done = restore_backup(restored, target)
    assert done.set_id == result.set_id and done.calls == 3 and done.audit_ok
    with Vault.open(restored) as vault:
        assert {c: audio_of(vault, c) for c in calls} == before
        assert [h.id for h in vault.holds.holds()] == [hold.id]
        assert vault.holds.is_held(calls[1])
        info = retention_of(vault, calls[2])
        assert info.retention_class == "mifid" and info.retain_until == until
        assert vault.verify_audit().ok
        actions = [e.action for e in vault.audit_entries()]
        # The backup's own entry came after its snapshot; the restore's is in the chain.
        assert "backup.create" not in actions and "backup.restore" in actions
        assert all(r.ok for r in vault.calls.verify())


def test_an_erasure_after_the_backup_stays_erased(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    """The issue's test: back up, erase a subject, restore the older backup. The erasure's
    ledger entry reaches the backup location when it commits (CALLVAULT_BACKUP_TO)."""
    target = str(tmp_path / "backups")
    config = with_keys(config, identity, backup_to=target)
    with Vault.open(config) as vault:
        theirs = [store(vault, 1), store(vault, 2)]
        kept = store(vault, 3, caller=OTHER)
        say(vault, theirs[0], "my card is blocked")
        create_backup(as_context(vault), to=target)
        recording = vault.calls.get_call(theirs[0]).recording
        blob = blob_key_of(vault, theirs[0])
        old_ciphertext = (tmp_path / "backups" / "objects" / blob).read_bytes()
        erase_subject(as_context(vault), SUBJECT, reason="art. 17 request")
    copied = sorted(p.name for p in (tmp_path / "backups" / "ledger").iterdir())
    assert copied == ["000000000001.json", "000000000002.json"]  # one per call erased
    restored = restore_config(config, tmp_path, fresh_database)
    done = restore_backup(restored, target)
    assert done.replayed >= 1
    with Vault.open(restored) as vault:
        assert [c.id for c in vault.calls.list_calls()] == [kept]
        with vault.reading() as session:
            assert session.get(DataKeyRow, recording.id) is None
        with pytest.raises(KeyDestroyed):
            decrypt_copy(vault, recording.id, old_ciphertext)
        assert blob not in set(vault.store.iter_keys())
        replays = [e for e in vault.audit_entries() if e.action == "ledger.replay"]
        assert {e.object_id for e in replays} >= set(theirs)
        assert vault.verify_audit().ok


def test_keys_are_never_written_in_the_clear(
    config: Config, tmp_path: Path, identity: tuple[Path, str]
) -> None:
    config = with_keys(config, identity)
    target = tmp_path / "backups"
    with Vault.open(config) as vault:
        store(vault, 1)
        create_backup(as_context(vault), to=str(target))
    keys = (config.data_dir / "keys").rglob("*")
    secrets = [p.read_bytes() for p in keys if p.is_file() and p.suffix != ".pub"]
    assert len(secrets) >= 4  # a key-encryption key, the search key, current, the signer
    for path in target.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.strip() not in data, path


def test_incremental_copies_only_new_blobs(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    config = with_keys(config, identity)
    target = str(tmp_path / "backups")
    with Vault.open(config) as vault:
        for seed in range(3):
            store(vault, seed)
        full = create_backup(as_context(vault), to=target)
        new = store(vault, 9)
        inc = create_backup(as_context(vault), to=target, incremental=True)
    assert (full.objects_copied, inc.objects, inc.objects_copied) == (3, 4, 1)
    assert inc.parent == full.set_id and inc.incremental
    assert [s.complete for s in list_backups(config, target)] == [True, True]
    restored = restore_config(config, tmp_path, fresh_database)
    restore_backup(restored, target)
    with Vault.open(restored) as vault:
        assert new in {c.id for c in vault.calls.list_calls()}


def test_verify_names_a_changed_object_manifest_and_audit_row(
    config: Config, tmp_path: Path, identity: tuple[Path, str]
) -> None:
    config = with_keys(config, identity)
    target = tmp_path / "backups"
    with Vault.open(config) as vault:
        call = store(vault, 1)
        result = create_backup(as_context(vault), to=str(target))
        blob = blob_key_of(vault, call)
    [report] = verify_backup(config, str(target))
    assert report.ok, report.faults
    set_dir = target / "sets" / result.set_id

    def flip(path: Path, at: int) -> bytes:
        data = path.read_bytes()
        path.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
        return data

    original = flip(target / "objects" / blob, 100)
    [report] = verify_backup(config, str(target))
    assert [f.where for f in report.faults] == [f"objects/{blob}"]
    (target / "objects" / blob).write_bytes(original)

    lines = (set_dir / "audit.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["actor"] = "someone-else"
    (set_dir / "audit.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    [report] = verify_backup(config, str(target))
    where = {f.where for f in report.faults}
    assert "audit entry 1" in where and f"sets/{result.set_id}/audit.jsonl" in where

    manifest = set_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"calls":1', '"calls":9'))
    [report] = verify_backup(config, str(target))
    assert any(
        f.where.endswith("manifest.json") and "signature" in f.message for f in report.faults
    )


def test_an_incomplete_backup_never_verifies_or_restores(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    config = with_keys(config, identity)
    target = tmp_path / "backups"
    with Vault.open(config) as vault:
        store(vault, 1)
        result = create_backup(as_context(vault), to=str(target))
    (target / "sets" / result.set_id / "manifest.json").unlink()
    [report] = verify_backup(config, str(target))
    assert not report.ok and not report.complete
    assert "incomplete" in report.faults[0].message
    assert [s.complete for s in list_backups(config, str(target))] == [False]
    restored = restore_config(config, tmp_path, fresh_database)
    with pytest.raises(BackupIncomplete):
        restore_backup(restored, str(target), set_id=result.set_id)
    with pytest.raises(BackupError, match="no complete backup"):
        restore_backup(restored, str(target))


def test_restore_refuses_a_vault_that_is_not_empty_and_a_wrong_key(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    config = with_keys(config, identity)
    target = str(tmp_path / "backups")
    with Vault.open(config) as vault:
        store(vault, 1)
        create_backup(as_context(vault), to=target)
    with pytest.raises(RestoreRefused):
        restore_backup(config, target)
    other = tmp_path / "other.key"
    make_identity(other)
    restored = restore_config(config, tmp_path, fresh_database)
    wrong = dataclasses.replace(restored, backup_identity=other)
    with pytest.raises(RecoveryKeyError):
        restore_backup(wrong, target)
    assert not (restored.data_dir / "keys").exists() or not any(
        (restored.data_dir / "keys").iterdir()
    )
    nothing = dataclasses.replace(restored, backup_identity=None)
    with pytest.raises(RecoveryKeyError):
        restore_backup(nothing, target)
    restore_backup(restored, target)  # the right key still works afterwards


def test_passphrase_only(config: Config, tmp_path: Path, fresh_database: Callable[[], str]) -> None:
    config = dataclasses.replace(config, backup_passphrase="a long passphrase for tests")
    target = str(tmp_path / "backups")
    with Vault.open(config) as vault:
        call = store(vault, 1)
        create_backup(as_context(vault), to=target)
    restored = restore_config(config, tmp_path, fresh_database)
    restore_backup(restored, target)
    with Vault.open(restored) as vault:
        assert [c.id for c in vault.calls.list_calls()] == [call]


def test_backup_needs_a_recovery_key_and_a_place(config: Config, tmp_path: Path) -> None:
    with Vault.open(config) as vault:
        with pytest.raises(RecoveryKeyError, match="CALLVAULT_BACKUP_RECIPIENT"):
            create_backup(as_context(vault), to=str(tmp_path / "b"))
        keyed = dataclasses.replace(vault.config, backup_passphrase="x" * 20)
        with pytest.raises(ConfigError, match="CALLVAULT_BACKUP_TO"):
            create_backup(dataclasses.replace(as_context(vault), config=keyed))
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").rglob("manifest.json"))


def test_an_interrupted_restore_keeps_the_vault_closed_and_resumes(
    config: Config, tmp_path: Path, identity: tuple[Path, str], fresh_database: Callable[[], str]
) -> None:
    config = with_keys(config, identity)
    target = tmp_path / "backups"
    with Vault.open(config) as vault:
        call = store(vault, 1)
        create_backup(as_context(vault), to=str(target))
        blob = blob_key_of(vault, call)
    hidden = tmp_path / "hidden"
    os.replace(target / "objects" / blob, hidden)
    restored = restore_config(config, tmp_path, fresh_database)
    with pytest.raises(BackupError, match="missing or changed"):
        restore_backup(restored, str(target))
    with pytest.raises(ConfigError, match="restore .* has not finished"):
        Vault.open(restored)
    os.replace(hidden, target / "objects" / blob)
    done = restore_backup(restored, str(target))
    assert done.resumed and done.audit_ok
    with Vault.open(restored) as vault:
        assert [c.id for c in vault.calls.list_calls()] == [call]


def test_prune_keeps_the_newest_and_deletes_what_no_kept_set_needs(
    config: Config, tmp_path: Path, identity: tuple[Path, str]
) -> None:
    config = with_keys(config, identity)
    target = tmp_path / "backups"
    with Vault.open(config) as vault:
        gone = store(vault, 1)
        first = create_backup(as_context(vault), to=str(target))
        blob = blob_key_of(vault, gone)
        vault.calls.delete_calls([gone], reason="test")
        store(vault, 2)
        second = create_backup(as_context(vault), to=str(target))
    result = prune_backups(config, str(target), daily=1, weekly=0)
    assert result.kept == (second.set_id,) and result.deleted == (first.set_id,)
    assert result.objects_deleted == 1 and not (target / "objects" / blob).exists()
    [report] = verify_backup(config, str(target), all_sets=True)
    assert report.ok and report.set_id == second.set_id


def test_a_backup_of_an_erased_blob_during_the_copy_is_explained_by_the_ledger(
    config: Config, tmp_path: Path, identity: tuple[Path, str]
) -> None:
    """A blob deleted between the snapshot and its copy is not a failure when the ledger
    (read after the copy) says it was erased: the restore replays that erasure."""
    config = with_keys(config, identity)
    with Vault.open(config) as vault:
        call = store(vault, 1)
        key = blob_key_of(vault, call)
        original = vault.store.open

        def open_after_erasure(name: str):  # type: ignore[no-untyped-def]
            if name == key and vault.calls.count_calls() == 1:
                vault.calls.delete_calls([call], reason="erased meanwhile")
            return original(name)

        vault.store.open = open_after_erasure  # type: ignore[method-assign]
        result = create_backup(as_context(vault), to=str(tmp_path / "b"))
    assert result.erased_during == (key,)


def test_retention_keeps_newest_of_days_and_weeks() -> None:
    from callvault.backup import keep_sets  # noqa: PLC0415 - the pure rule itself

    start = datetime(2026, 12, 7, 3, tzinfo=UTC)  # a Monday; a set every 12 hours before
    created = {f"s{i}": start - timedelta(hours=12 * i) for i in range(30)}
    # Days: 7 Dec (s0), 6 Dec 15:00 (s1), 5 Dec 15:00 (s3). Weeks: this one (s0), the one
    # ending 6 Dec (s1), the one ending 29 Nov, whose newest is 29 Nov 15:00 (s15).
    kept = keep_sets(created, daily=3, weekly=3)
    assert kept == {"s0", "s1", "s3", "s15"}
    assert keep_sets(created, daily=0, weekly=0) == {"s0"}
