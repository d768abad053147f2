"""Legal holds, retention and consent records in the vault, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from _audio import tone, wav_bytes
from _context import as_context
from _stored import decrypt_copy, held_by, retention_of
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import ErasureRefused, InputError, KeyDestroyed, NotFound
from callvault.search import IndexRow, SearchIndex
from callvault.services import erase_call, run_retention
from callvault.vault import Vault
from callvault.vault._db import _alembic_config

PAST = datetime(2026, 1, 1, tzinfo=UTC)


def store(vault: Vault, seed: int = 0, caller: str = "+14155550100") -> tuple[str, str]:
    data = wav_bytes(tone(1.0, 8000, 2, seed), 8000)
    opts = FileImportOptions(
        caller=caller,
        callee="+442071838750",
        direction="inbound",
        agent="alice",
        started_at="2026-03-01T09:30:00+01:00",
        language="en",
    )
    stored = vault.calls.store_call(import_bytes(data, f"call-{seed}.wav", opts))
    return stored.call_id, stored.recording_id


def blob_path(vault: Vault, recording_id: str) -> Path:
    return vault.config.data_dir / "blobs" / recording_id[:2] / recording_id


def index(vault: Vault, call_id: str, recording_id: str, words: str) -> None:
    row = IndexRow(
        call_id=call_id,
        recording_id=recording_id,
        utterance=0,
        speaker="S0",
        role="caller",
        agent="alice",
        language="en",
        started_at=PAST,
        start=0.0,
        end=1.0,
        text=words,
    )
    with vault.engine.execution_options(callvault_write=True).begin() as conn:
        SearchIndex(vault.engine, vault.search_key).index_utterances(conn, [row])


def hits(vault: Vault, query: str) -> list[str]:
    return [h.call_id for h in SearchIndex(vault.engine, vault.search_key).search(query)]


# -- legal holds ---------------------------------------------------------------------------


def test_call_hold_refuses_erasure_until_released(vault: Vault) -> None:
    call_id, _ = store(vault)
    hold = vault.holds.add_hold(call_id, reason="Smith v Acme, case 2026-17")
    assert hold.active and hold.call_id == call_id and hold.subject is None
    assert hold.created_by == "test:pytest"
    with pytest.raises(ErasureRefused) as refused:
        vault.calls.delete_call(call_id, reason="customer asked")
    assert str(refused.value) == (
        f"call {call_id} is under legal hold {hold.id} (Smith v Acme, case 2026-17); it "
        "cannot be erased until the hold is released "
        f"(`callvault hold remove {hold.id} --reason ...`)"
    )
    assert refused.value.exit_code == 1 and refused.value.hold_id == hold.id
    assert vault.calls.get_call(call_id).id == call_id  # nothing was erased
    assert held_by(vault, call_id) == [hold.id]

    released = vault.holds.release_hold(hold.id, reason="case closed")
    assert not released.active and released.release_reason == "case closed"
    assert released.released_by == "test:pytest"
    assert vault.holds.holds() == []
    assert [h.id for h in vault.holds.holds(active_only=False)] == [hold.id]
    vault.calls.delete_call(call_id, reason="customer asked")
    with pytest.raises(NotFound):
        vault.calls.get_call(call_id)
    # The released hold of the erased call goes with it; its story is in the audit chain.
    assert vault.holds.holds(active_only=False) == []
    actions = [(e.action, e.purpose) for e in vault.audit_entries(object_id=hold.id)]
    assert actions == [("hold.add", "Smith v Acme, case 2026-17"), ("hold.release", "case closed")]
    assert vault.audit_entries(object_id=hold.id)[0].details == {
        "call_id": call_id,
        "target": "call",
    }
    assert vault.verify_audit().ok


def test_subject_hold_matches_participant_number(vault: Vault) -> None:
    held, _ = store(vault, 0, caller="+14155550100")
    free, _ = store(vault, 1, caller="+14155550199")
    # Written with spaces: the number is normalised to E.164 before it is matched.
    hold = vault.holds.add_hold(subject="+1 415 555 0100", reason="regulator inquiry")
    assert hold.subject == "+14155550100" and hold.call_id is None
    assert held_by(vault, held) == [hold.id]
    assert held_by(vault, free) == []
    with pytest.raises(ErasureRefused, match=f"under legal hold {hold.id} \\(regulator inquiry\\)"):
        erase_call(as_context(vault), held, reason="request")
    erase_call(as_context(vault), free, reason="request")
    vault.holds.release_hold(hold.id, reason="inquiry over")
    erase_call(as_context(vault), held, reason="request")
    assert vault.calls.list_calls() == []
    # A subject hold stays listed after the calls it covered are gone.
    assert [h.id for h in vault.holds.holds(active_only=False)] == [hold.id]
    assert vault.verify_audit().ok


def test_subject_hold_by_participant_name(vault: Vault) -> None:
    call_id, _ = store(vault)
    name = vault.calls.get_call(call_id).participants[1].name
    assert name == "alice"
    hold = vault.holds.add_hold(subject="alice", reason="HR matter")
    assert held_by(vault, call_id) == [hold.id]
    # Another call of the same agent is held too.
    other, _ = store(vault, 2, caller="+14155550111")
    assert held_by(vault, other) == [hold.id]


def test_held_call_keeps_its_search_rows(vault: Vault) -> None:
    call_id, recording_id = store(vault)
    index(vault, call_id, recording_id, "refund for the order")
    vault.holds.add_hold(call_id, reason="litigation")
    with pytest.raises(ErasureRefused):
        erase_call(as_context(vault), call_id, reason="request")
    assert hits(vault, "refund") == [call_id]


def test_hold_input_errors(vault: Vault) -> None:
    call_id, _ = store(vault)
    with pytest.raises(InputError, match="^a hold is on a call or on a subject: give exactly one"):
        vault.holds.add_hold(call_id, "+14155550100", reason="x")
    with pytest.raises(InputError, match="^a hold is on a call or on a subject"):
        vault.holds.add_hold(reason="x")
    with pytest.raises(InputError, match="^the reason is empty; say why"):
        vault.holds.add_hold(call_id, reason="  ")
    with pytest.raises(InputError, match="^the reason has 300 characters; keep it to 256$"):
        vault.holds.add_hold(call_id, reason="x" * 300)
    with pytest.raises(NotFound, match="^call nope does not exist"):
        vault.holds.add_hold("nope", reason="x")
    with pytest.raises(InputError, match="^the subject is not an E.164 phone number"):
        vault.holds.add_hold(subject="+12", reason="x")
    with pytest.raises(NotFound, match="^hold nope does not exist; `callvault hold list --all`"):
        vault.holds.release_hold("nope", reason="x")
    hold = vault.holds.add_hold(call_id, reason="x")
    vault.holds.release_hold(hold.id, reason="done")
    with pytest.raises(InputError, match=f"^hold {hold.id} was already released at "):
        vault.holds.release_hold(hold.id, reason="again")


# -- retention -----------------------------------------------------------------------------


def test_set_retention_and_expired_calls(vault: Vault) -> None:
    expired, _ = store(vault, 0)
    later, _ = store(vault, 1)
    never, _ = store(vault, 2)
    assert retention_of(vault, never).retention_class == "standard"
    assert retention_of(vault, never).retain_until is None
    vault.holds.set_retention(expired, "short", PAST)
    vault.holds.set_retention(later, "long", datetime(2099, 1, 1, tzinfo=UTC))
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert [
        (e.call_id, e.retention_class, e.retain_until) for e in vault.holds.expired_calls(now)
    ] == [(expired, "short", PAST)]
    hold = vault.holds.add_hold(expired, reason="audit")
    assert vault.holds.expired_calls(now) == []
    (held,) = vault.holds.expired_calls(now, include_held=True)
    assert held.hold_ids == (hold.id,)
    (entry,) = vault.audit_entries(action="retention.set", object_id=expired)
    assert entry.details["retention_class"] == "short"
    assert entry.details["previous"]["retention_class"] == "standard"
    with pytest.raises(InputError, match="^retention class 'Short Term' is not a class name"):
        vault.holds.set_retention(expired, "Short Term", None)
    with pytest.raises(InputError, match="has no time zone"):
        vault.holds.set_retention(expired, "short", datetime(2026, 1, 1))


def test_retention_run(vault: Vault, config: Config) -> None:
    expired, expired_rec = store(vault, 0)
    held, _ = store(vault, 1)
    future, _ = store(vault, 2)
    unset, _ = store(vault, 3)
    index(vault, expired, expired_rec, "refund for the order")
    vault.transcripts.store_transcript(
        expired,
        b'{"utterances": []}',
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=0,
        words=0,
    )
    vault.holds.set_retention(expired, "short", PAST)
    vault.holds.set_retention(held, "short", PAST)
    vault.holds.set_retention(future, "long", datetime.now(UTC) + timedelta(days=30))
    hold = vault.holds.add_hold(held, reason="litigation")
    ciphertext = blob_path(vault, expired_rec).read_bytes()
    cipher_sha = vault.calls.get_call(expired).recording.ciphertext_sha256
    kek_id = vault.keyring.current_id()

    seen: list[tuple[int, int]] = []
    report = run_retention(as_context(vault), hook=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert not report.dry_run
    (erased,) = report.erased
    (skipped,) = report.skipped
    assert erased.call_id == expired and erased.retention_class == "short"
    assert (skipped.call_id, skipped.reason, skipped.hold_ids) == (
        held,
        "legal-hold",
        (hold.id,),
    )

    # Gone: no key can decrypt a copy of the old ciphertext, search finds nothing.
    with pytest.raises(KeyDestroyed):
        decrypt_copy(vault, expired_rec, ciphertext)
    assert not blob_path(vault, expired_rec).exists()
    assert hits(vault, "refund") == []
    assert sorted(c.id for c in vault.calls.list_calls()) == sorted([held, future, unset])

    # The certificate, in the audit chain.
    (entry,) = vault.audit_entries(action="retention.erase")
    assert (entry.object_id, entry.purpose) == (expired, "retention period ended")
    cert = entry.details
    assert cert == erased.certificate.to_json()  # type: ignore[union-attr]
    assert cert["call_id"] == expired
    assert cert["recording_ids"] == [expired_rec]
    assert cert["data_keys"] == [{"id": expired_rec, "wrapped_under": kek_id}]
    kinds = [(b["kind"], b["recording_id"]) for b in cert["blobs"]]
    assert kinds == [("recording", expired_rec), ("transcript", expired_rec)]
    assert cert["blobs"][0]["ciphertext_sha256"] == cipher_sha
    assert cert["blobs"][0]["key"] == expired_rec
    assert cert["retention_class"] == "short"
    assert cert["retain_until"] == PAST.isoformat()
    assert cert["method"] == "crypto-shredding"
    assert datetime.fromisoformat(cert["erased_at"]) > PAST
    (summary,) = vault.audit_entries(action="retention.run")
    assert summary.details["erased"] == [expired]
    assert summary.details["skipped"] == [
        {"call_id": held, "reason": "legal-hold", "hold_ids": [hold.id], "restriction_id": None}
    ]
    assert vault.verify_audit().ok

    # Nothing left to do.
    again = run_retention(as_context(vault))
    assert again.erased == () and [s.call_id for s in again.skipped] == [held]


def test_retention_dry_run_changes_nothing(vault: Vault, config: Config) -> None:
    call_id, recording_id = store(vault)
    vault.holds.set_retention(call_id, "short", PAST)
    entries = len(vault.audit_entries())
    ahead = datetime.now(UTC) + timedelta(days=365)
    report = run_retention(as_context(vault), dry_run=True, now=ahead)
    assert [(e.call_id, e.certificate) for e in report.erased] == [(call_id, None)]
    assert vault.calls.get_call(call_id).recording.id == recording_id
    assert blob_path(vault, recording_id).exists()
    new = vault.audit_entries()[entries:]
    assert [e.action for e in new] == ["retention.check", "call.show"]
    assert new[0].details["due"] == [call_id]
    with pytest.raises(InputError, match="is in the future: retention erases only calls whose"):
        run_retention(as_context(vault), now=ahead)
    with pytest.raises(InputError, match="has no time zone"):
        run_retention(as_context(vault), now=datetime(2026, 1, 1))
    assert vault.calls.list_calls()[0].id == call_id


def test_retention_erasure_recheck_in_transaction(vault: Vault) -> None:
    call_id, _ = store(vault)
    vault.holds.set_retention(call_id, "short", datetime(2026, 6, 1, tzinfo=UTC))
    with pytest.raises(ErasureRefused, match=f"^call {call_id} is not due for erasure at"):
        vault.calls.delete_call(call_id, reason="r", expired_by=datetime(2026, 5, 1, tzinfo=UTC))
    vault.calls.delete_call(call_id, reason="r", expired_by=datetime(2026, 6, 1, tzinfo=UTC))
    assert vault.audit_entries()[-1].action == "retention.erase"


# -- consent -------------------------------------------------------------------------------


def test_consent_record_withdraw_list(vault: Vault) -> None:
    call_id, _ = store(vault)
    given = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    first = vault.consent.record_consent(
        "+1 415 555 0100",
        method="verbal",
        scopes=["analyse", "record"],
        call_id=call_id,
        given_at=given,
        note="said yes after the notice",
    )
    assert first.participant == "+14155550100"
    assert first.scopes == ("analyse", "record")
    assert first.recorded_by == "test:pytest" and first.active
    standing = vault.consent.record_consent("customer-8812", method="web", scopes=["training"])
    assert standing.call_id is None

    assert [c.id for c in vault.consent.consents()] == [first.id, standing.id]
    assert [c.id for c in vault.consent.consents(call_id=call_id)] == [first.id]
    assert [c.id for c in vault.consent.consents(participant="+14155550100")] == [first.id]
    assert [c.id for c in vault.consent.consents(participant="customer-8812")] == [standing.id]
    assert vault.consent.consents(call_id=call_id, participant="customer-8812") == []

    withdrawn = vault.consent.withdraw_consent(first.id, at=given + timedelta(days=2))
    assert not withdrawn.active and withdrawn.withdrawn_at == given + timedelta(days=2)
    with pytest.raises(InputError, match=f"^consent {first.id} was already withdrawn at "):
        vault.consent.withdraw_consent(first.id)

    record = vault.audit_entries(object_id=first.id)
    assert [e.action for e in record] == ["consent.record", "consent.withdraw"]
    assert record[0].details == {
        "call_id": call_id,
        "standing": False,
        "method": "verbal",
        "scopes": ["analyse", "record"],
        "given_at": given.isoformat(),
    }
    # No personal data (the number, the note) in the audit chain.
    for entry in vault.audit_entries():
        assert "4155550100" not in str(entry.to_dict())
        assert "said yes" not in str(entry.to_dict())
    assert vault.verify_audit().ok


def test_consent_validation(vault: Vault) -> None:
    with pytest.raises(
        InputError,
        match="^consent method 'email' is unknown; use one of verbal, dtmf, web, ivr, "
        "pre-call-notice$",
    ):
        vault.consent.record_consent("+14155550100", method="email", scopes=["record"])
    with pytest.raises(
        InputError,
        match="^consent scope 'marketing' is unknown; use one or more of record, analyse, "
        "training$",
    ):
        vault.consent.record_consent("+14155550100", method="web", scopes=["record", "marketing"])
    with pytest.raises(InputError, match="^no consent scope; use one or more of record"):
        vault.consent.record_consent("+14155550100", method="web", scopes=[])
    with pytest.raises(InputError, match="^the participant is empty"):
        vault.consent.record_consent(" ", method="web", scopes=["record"])
    with pytest.raises(NotFound, match="^call nope does not exist"):
        vault.consent.record_consent(
            "+14155550100", method="web", scopes=["record"], call_id="nope"
        )
    with pytest.raises(NotFound, match="^consent nope does not exist; `callvault consent list`"):
        vault.consent.withdraw_consent("nope")
    record = vault.consent.record_consent(
        "+14155550100", method="ivr", scopes=["record"], given_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    with pytest.raises(InputError, match="it cannot be withdrawn earlier"):
        vault.consent.withdraw_consent(record.id, at=datetime(2026, 2, 1, tzinfo=UTC))
    assert vault.consent.consents()[0].active


def test_consent_survives_erasure(vault: Vault) -> None:
    call_id, _ = store(vault)
    record = vault.consent.record_consent(
        "+14155550100", method="pre-call-notice", scopes=["record"], call_id=call_id
    )
    vault.calls.delete_call(call_id, reason="customer asked")
    (kept,) = vault.consent.consents(participant="+14155550100")
    assert kept.id == record.id and kept.call_id is None and kept.method == "pre-call-notice"
    assert vault.verify_audit().ok


# -- migration -----------------------------------------------------------------------------


def test_migration_0005_down_and_up_keeps_calls(vault: Vault, engine: Engine) -> None:
    call_id, _ = store(vault)
    vault.holds.set_retention(call_id, "short", PAST)
    vault.holds.add_hold(call_id, reason="x")
    vault.close()
    cfg = _alembic_config()
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM calls")).scalars().all() == [call_id]
        assert conn.execute(text("SELECT count(*) FROM participants")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM data_keys")).scalar_one() == 1
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with Vault.open(vault.config) as reopened:
        info = retention_of(reopened, call_id)
        assert (info.retention_class, info.retain_until) == ("standard", None)
        assert reopened.holds.holds() == []
        assert all(r.ok for r in reopened.calls.verify())
