"""The erasure ledger at restore (issue 21): every erasure path writes its entry, and a
restored older backup (here an offline copy of the data directory and the database)
erases again what was erased after it was taken, before it serves anyone."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from _audio import tone, wav_bytes
from _config import POSTGRES_ADMIN_URL
from _context import as_context
from _stored import hits, stored_frames, transcribe
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import IntegrityError, NotFound
from callvault.services import Context, erase_subject
from callvault.services.ledger import ledger_entries, replay_erasures
from callvault.services.refusals import detect_and_honour
from callvault.services.retention import run_retention
from callvault.services.withdrawal import withdraw_during_call
from callvault.vault import LedgerEntry, Vault, verify_entries
from callvault.vault._crypto import unwrap_data_key
from callvault.vault._models import DataKeyRow, ParticipantRow, RefusalRow

RATE = 8000
SUBJECT, LEGGED, KEPT, CALLEE = "+14155550100", "+14155550111", "+14155550122", "+442071838750"
NAME = "Jane Doe"
PERSONAL = (SUBJECT, LEGGED, KEPT, CALLEE, NAME, "Jane", "pineapple", "papaya")
STARTED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def store(vault: Vault, seed: int, caller: str, seconds: float = 1.0) -> str:
    opts = FileImportOptions(caller=caller, callee=CALLEE, started_at=STARTED.isoformat())
    call = import_bytes(wav_bytes(tone(seconds, RATE, 2, seed), RATE), f"c{seed}.wav", opts)
    first, *rest = call.participants
    call = dataclasses.replace(call, participants=(dataclasses.replace(first, name=NAME), *rest))
    return vault.calls.store_call(call).call_id


def said(channel: int, start: float, words: str) -> Utterance:
    parts = tuple(
        Word(start + 0.1 * n, start + 0.1 * n + 0.08, w, 0.9) for n, w in enumerate(words.split())
    )
    return Utterance(f"S{channel}", channel, start, parts[-1].end, words, 0.9, parts)


def assert_no_personal_data(entries: list[LedgerEntry]) -> None:
    body = json.dumps([e.to_json() for e in entries])
    for personal in PERSONAL:
        assert personal not in body, personal


Backup = Callable[[Config], Config]


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[Backup]:
    """Take an offline copy of a closed vault: its data directory (keys, blobs, SQLite)
    and, on PostgreSQL, its database (`CREATE DATABASE ... TEMPLATE`)."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def take(config: Config) -> Config:
        target = tmp_path / f"backup-{len(made) + 1}"
        shutil.copytree(config.data_dir, target)
        url = config.database_url
        if url:
            source = make_url(url).database
            name = f"callvault_copy_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
            made.append(name)
            url = make_url(url).set(database=name).render_as_string(hide_password=False)
        else:
            made.append("")
        return dataclasses.replace(config, data_dir=target, database_url=url)

    yield take
    with admin.connect() as conn:
        for name in filter(None, made):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wrapped_key(vault: Vault, recording_id: str) -> tuple[str, bytes]:
    with vault.reading() as session:
        row = session.get(DataKeyRow, recording_id)
        assert row is not None
        return row.kek_id, bytes(row.wrapped)


# -- every erasure path writes its entry ------------------------------------------------


def test_subject_erasure_whole_and_by_leg(vault: Vault) -> None:
    whole = store(vault, 0, SUBJECT)
    legged = store(vault, 1, LEGGED)
    transcribe(vault, legged, said(0, 0.0, "papaya plan"), said(1, 0.5, "thanks"))
    record = vault.calls.get_call(legged)
    participant = next(p.id for p in record.participants if p.phone == LEGGED)
    _kek, old_wrapped = wrapped_key(vault, record.recording.id)

    erase_subject(as_context(vault), SUBJECT, reason="art. 17 request 1 by Jane Doe")
    erase_subject(as_context(vault), LEGGED, reason="art. 17 request 2", scope="leg")

    first, second = vault.ledger.entries()
    assert (first.kind, first.body["call_id"]) == ("call", whole)
    assert second.kind == "rewrite"
    assert second.body["call_id"] == legged
    assert second.body["recording_id"] == record.recording.id
    assert second.body["participants"] == [participant]
    assert second.body["old_key"] == hashlib.sha256(old_wrapped).hexdigest()
    old_blobs = {b["key"] for b in second.body["blobs"]}
    assert record.recording.id in old_blobs and not old_blobs & set(vault.store.iter_keys())
    assert all(b["sha256"] for b in second.body["blobs"])
    assert_no_personal_data(vault.ledger.entries())
    assert verify_entries(vault.ledger.entries(), vault.signer) == []


def test_withdrawal_cut_and_refusal_shred(config: Config) -> None:
    with Vault.open(dataclasses.replace(config, on_withdrawal="keep-before")) as vault:
        cut = store(vault, 0, SUBJECT)
        withdraw_during_call(as_context(vault), cut, "1", 0.5, reason="callee said stop")
        refused = store(vault, 1, SUBJECT, seconds=4.0)
        talk = (
            said(0, 0.1, "thanks for calling how can I help"),
            said(1, 2.0, "I do not want to be recorded"),
        )
        transcribe(vault, refused, *talk)
        transcript = Transcript("done", "en", "test", "1", talk, False)
        ctx = Context(vault.config, vault)
        detection = detect_and_honour(ctx, refused, transcript)
        assert detection is not None and detection.quarantined
        with vault.engine.begin() as conn:
            conn.execute(update(RefusalRow).values(quarantine_until=datetime.now(UTC)))

        run_retention(ctx)

        kinds = [(e.kind, e.body.get("call_id")) for e in vault.ledger.entries()]
        assert kinds == [("rewrite", cut), ("rewrite", refused), ("refusal", refused)]
        refusal = vault.ledger.entries()[-1]
        assert refusal.body["refusal_id"] == detection.id and refusal.body["key_destroyed"]
        assert len(refusal.body["blobs"]) == 1
        assert_no_personal_data(vault.ledger.entries())


# -- the test: back up, erase, restore the older backup --------------------------


def test_restored_backup_erases_again(config: Config, backup: Backup) -> None:
    with Vault.open(config) as live:
        subject_calls = [store(live, 0, SUBJECT), store(live, 1, SUBJECT)]
        legged, kept = store(live, 2, LEGGED), store(live, 3, KEPT)
        transcribe(live, subject_calls[0], said(0, 0.0, "pineapple tart"))
        transcribe(live, legged, said(0, 0.0, "papaya plan"), said(1, 0.5, "thanks"))
        transcribe(live, kept, said(0, 0.0, "kiwi pie"))
        backup_head = live.ledger.head()
    older = backup(config)
    with Vault.open(config) as live:
        erase_subject(as_context(live), SUBJECT, reason="art. 17 request 1")
        erase_subject(as_context(live), LEGGED, reason="art. 17 request 2", scope="leg")
        new = ledger_entries(as_context(live), after_seq=backup_head[0])
        everything = live.ledger.entries()
    assert [e.kind for e in new] == ["call", "call", "rewrite"]
    doomed = [*subject_calls, legged]

    with Vault.open(older) as restored:
        # The copy brought everything back: calls, transcripts, search rows, keys.
        saved: dict[str, tuple[str, bytes, bytes]] = {}
        for call_id in doomed:
            rid = restored.calls.get_call(call_id).recording.id
            kek_id, wrapped = wrapped_key(restored, rid)
            with restored.store.open(rid) as handle:
                saved[rid] = (kek_id, wrapped, handle.read())
            # Not vacuous: before the replay the saved key opens under the key ring.
            unwrap_data_key(restored.keyring.key(kek_id), kek_id, rid, wrapped)
        assert hits(restored, "pineapple") == subject_calls[:1]
        blobs_before = set(restored.store.iter_keys())

        report = replay_erasures(as_context(restored), new)

        assert sorted(report.erased_calls) == sorted(doomed)
        assert report.imported == 3 and report.not_found == 0 and report.destroyed_anything
        for call_id in doomed:
            with pytest.raises(NotFound):
                restored.calls.get_call(call_id)
            with pytest.raises(NotFound):
                restored.transcripts.read_transcript(call_id)
        assert hits(restored, "pineapple") == [] and hits(restored, "papaya") == []
        assert hits(restored, "kiwi") == [kept]
        remaining = set(restored.store.iter_keys())
        assert not set(saved) & remaining and remaining < blobs_before
        with restored.reading() as session:
            assert not session.scalars(
                select(DataKeyRow).where(DataKeyRow.recording_id.in_(list(saved)))
            ).all()
        # The saved ciphertext's key opens under no key the restored vault holds.
        assert report.destroyed_keks and set(report.destroyed_keks).isdisjoint(
            restored.keyring.key_ids()
        )
        for rid, (_kek, wrapped, _blob) in saved.items():
            for kek_id in restored.keyring.key_ids():
                with pytest.raises(IntegrityError):
                    unwrap_data_key(restored.keyring.key(kek_id), kek_id, rid, wrapped)
        # The call that stays is whole, its key re-wrapped under the new key.
        assert [r.ok for r in restored.calls.verify()] == [True]
        assert stored_frames(restored, kept).shape == (RATE, 2)
        # A certificate per entry, in a chain that holds; the ledger is the live one now.
        assert restored.verify_audit().ok
        replayed = restored.audit_entries(action="ledger.replay")
        assert [e.details["ledger_seq"] for e in replayed] == [e.seq for e in new]
        assert all(e.details["found"] for e in replayed)
        why = replayed[-1].details["destroyed"]["why"]
        assert "the rewritten audio is not in this backup" in why
        assert restored.ledger.entries() == everything and restored.ledger.verify() == []

        again = replay_erasures(as_context(restored), new)

        assert again.erased_calls == () and again.deleted_blobs == ()
        assert again.imported == 0 and again.not_found == 3 and not again.destroyed_anything
        assert not any(
            e.details["found"] for e in restored.audit_entries(action="ledger.replay")[3:]
        )
        assert restored.verify_audit().ok


def test_backup_with_the_rewrite_keeps_the_call(config: Config, backup: Backup) -> None:
    with Vault.open(config) as live:
        legged = store(live, 0, LEGGED)
        erase_subject(as_context(live), LEGGED, reason="art. 17 request 2", scope="leg")
        rewritten = stored_frames(live, legged)
    older = backup(config)
    with Vault.open(config) as live:
        entries = live.ledger.entries()
    with Vault.open(older) as restored:
        # Someone's name came back with a restore of a damaged copy: blanked again.
        with restored.engine.begin() as conn:
            conn.execute(update(ParticipantRow).values(name=NAME))

        report = replay_erasures(as_context(restored), entries)

        assert report.erased_calls == () and report.rewritten_calls == (legged,)
        assert (stored_frames(restored, legged) == rewritten).all()
        record = restored.calls.get_call(legged)
        blanked = entries[0].body["participants"]
        assert [p.name for p in record.participants if p.id in blanked] == [None]
        assert [r.ok for r in restored.calls.verify()] == [True]
        assert restored.verify_audit().ok


def test_a_forged_ledger_is_refused(config: Config, backup: Backup) -> None:
    with Vault.open(config) as live:
        store(live, 0, SUBJECT)
    older = backup(config)
    with Vault.open(config) as live:
        erase_subject(as_context(live), SUBJECT, reason="art. 17 request 1")
        (entry,) = live.ledger.entries()
    forged = dataclasses.replace(entry, body={**entry.body, "call_id": "0" * 32})
    with Vault.open(older) as restored:
        with pytest.raises(IntegrityError, match="entry 1 was altered"):
            replay_erasures(as_context(restored), [forged])
        assert restored.ledger.entries() == []


def test_replay_of_a_thousand_calls_takes_seconds(
    config: Config, backup: Backup, capsys: pytest.CaptureFixture[str]
) -> None:
    with Vault.open(config) as live:
        call_ids = [store(live, n, SUBJECT, seconds=0.05) for n in range(1000)]
    older = backup(config)
    with Vault.open(config) as live:
        live.calls.delete_calls(call_ids, reason="art. 17 request 3")
        entries = live.ledger.entries()
    assert len(entries) == 1000
    with Vault.open(older) as restored:
        started = time.perf_counter()
        report = replay_erasures(as_context(restored), entries)
        took = time.perf_counter() - started
        assert len(report.erased_calls) == 1000 and restored.calls.count_calls() == 0
    with capsys.disabled():
        print(f"\nreplay of 1000 call entries on {restored.database_kind()}: {took:.2f} s")
    assert took < 30


def test_an_empty_ledger_replays_nothing(vault: Vault) -> None:
    report = replay_erasures(as_context(vault), [])
    assert report.to_json()["entries"] == 0 and not report.destroyed_anything
    assert vault.audit_entries(action="ledger.replay") == []


def test_restore_destroys_a_rotated_key_and_ignores_holds(config: Config, backup: Backup) -> None:
    with Vault.open(config) as live:
        kept, erased = store(live, 0, KEPT), store(live, 1, SUBJECT)
        old_kek = live.keyring.current_id()
    older = backup(config)
    with Vault.open(config) as live:
        erase_subject(as_context(live), SUBJECT, reason="art. 17 request 1")
        live.rotate_keys()
        entries = live.ledger.entries()
    assert [e.kind for e in entries] == ["call", "kek"]
    with Vault.open(older) as restored:
        # A hold the backup knew of does not keep what was lawfully erased since.
        restored.holds.add_hold(erased, reason="Smith v Acme")
        assert old_kek in restored.keyring.key_ids()

        report = replay_erasures(as_context(restored), entries)

        assert report.erased_calls == (erased,) and report.destroyed_keks == (old_kek,)
        assert old_kek not in restored.keyring.key_ids()
        assert restored.keyring.current_id() != old_kek
        assert report.rewrapped_keys == 1
        assert restored.calls.get_call(kept).recording.kek_id == restored.keyring.current_id()
        assert [r.ok for r in restored.calls.verify()] == [True]
        (kek_replay,) = restored.audit_entries(action="ledger.replay", object_id=old_kek)
        assert kek_replay.details["found"] and kek_replay.details["destroyed"]["kek"] == old_kek
        assert len(restored.audit_entries(action="keys.rotate")) == 1
        assert restored.verify_audit().ok


def test_restore_shreds_a_refusal_quarantine_again(config: Config, backup: Backup) -> None:
    keep_before = dataclasses.replace(config, on_withdrawal="keep-before")
    talk = (
        said(0, 0.1, "thanks for calling how can I help"),
        said(1, 2.0, "I do not want to be recorded"),
    )
    with Vault.open(keep_before) as live:
        refused = store(live, 1, SUBJECT, seconds=4.0)
        transcribe(live, refused, *talk)
        transcript = Transcript("done", "en", "test", "1", talk, False)
        detection = detect_and_honour(Context(live.config, live), refused, transcript)
        assert detection is not None and detection.quarantined
        head = live.ledger.head()
    older = backup(keep_before)
    with Vault.open(keep_before) as live:
        with live.engine.begin() as conn:
            conn.execute(update(RefusalRow).values(quarantine_until=datetime.now(UTC)))
        run_retention(Context(live.config, live))
        entries = live.ledger.entries(after_seq=head[0])
    assert [e.kind for e in entries] == ["refusal"]
    with Vault.open(older) as restored:
        with restored.reading() as session:
            row = session.get(RefusalRow, detection.id)
            assert row is not None and row.quarantine_key is not None
            quarantine = row.quarantine_key
        assert quarantine in set(restored.store.iter_keys())

        report = replay_erasures(as_context(restored), entries)

        assert report.shredded_refusals == (detection.id,) and report.erased_calls == ()
        assert quarantine not in set(restored.store.iter_keys())
        with restored.reading() as session:
            row = session.get(RefusalRow, detection.id)
            assert row is not None and row.quarantine_key is None and row.wrapped is None
        # The cut call stays, readable under the key its data key was re-wrapped under.
        assert [r.ok for r in restored.calls.verify()] == [True]
        assert restored.verify_audit().ok
