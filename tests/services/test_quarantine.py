"""The ingest gate's consent handling: refuse, quarantine, standing consent, and the
decision stored in the transaction that stores the call (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text

from _audio import tone, wav_bytes
from _context import as_context
from _stored import retention_of
from callvault.capture import CapturedCall, FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import ConsentRequired, Quarantined
from callvault.services import (
    add_consent,
    admit,
    ingest_captured,
    open_context,
    open_queue,
    pending_jobs,
    process_call,
    queue_missing_processing,
    run_retention,
)
from callvault.vault import Admission, Vault
from callvault.vault._db import _alembic_config

# Both in Germany, where every party must consent.
CALLER = "+493012345678"
CALLEE = "+498912345678"
STARTED = "2026-03-02T10:00:00Z"


def call(seed: int = 0, started_at: str = STARTED) -> CapturedCall:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at=started_at)
    return import_bytes(wav_bytes(tone(0.4, 8000, 2, seed), 8000), f"call-{seed}.wav", opts)


def quarantining(config: Config) -> Config:
    return dataclasses.replace(config, consent_missing="quarantine", quarantine_days=3)


def actions(vault: Vault, call_id: str) -> list[str]:
    return [e.action for e in vault.audit_entries() if e.object_id == call_id]


def test_all_party_call_without_consent_is_refused_and_nothing_is_stored(config: Config) -> None:
    with pytest.raises(ConsentRequired, match="CALLVAULT_CONSENT_MISSING=quarantine"):
        with open_context(config) as ctx:
            ingest_captured(ctx, [call()])
    with Vault.open(config) as vault:
        assert vault.calls.list_calls() == []


def test_quarantined_call_is_kept_unqueued_until_every_party_consents(config: Config) -> None:
    config = quarantining(config)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    assert stored.consent_state == "quarantined" and stored.job_id is None
    with Vault.open(config) as vault:
        record = vault.calls.get_call(stored.call_id)
        assert record.consent_state == "quarantined"
        assert "call.quarantine" in actions(vault, stored.call_id)
        assert vault.calls.list_calls()[0].to_json()["consent_state"] == "quarantined"
        queue = open_queue(config, vault)
        assert pending_jobs(queue) == []
        # `jobs run` does not pick it up behind the gate's back.
        assert queue_missing_processing(as_context(vault), queue) == []

    with open_context(config) as ctx:
        first = add_consent(
            ctx, CALLER, method="verbal", scopes=["record", "analyse"], call_id=stored.call_id
        )
    assert not first.released and first.job_id is None
    with Vault.open(config) as vault:
        assert vault.consent.consent_state(stored.call_id) == "quarantined"
    with open_context(config) as ctx:
        second = add_consent(
            ctx, CALLEE, method="dtmf", scopes=["record", "analyse"], call_id=stored.call_id
        )
    assert second.released and second.job_id
    with Vault.open(config) as vault:
        assert vault.consent.consent_state(stored.call_id) == "given"
        assert retention_of(vault, stored.call_id).retain_until is not None
        assert "call.release" in actions(vault, stored.call_id)
        assert vault.verify_audit().ok
        assert [job.id for job in pending_jobs(open_queue(config, vault))] == [second.job_id]


def test_a_consent_without_the_record_scope_does_not_release(config: Config) -> None:
    config = quarantining(config)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    with open_context(config) as ctx:
        for party in (CALLER, CALLEE):
            added = add_consent(
                ctx, party, method="web", scopes=["analyse"], call_id=stored.call_id
            )
            assert not added.released
    with Vault.open(config) as vault:
        assert vault.consent.consent_state(stored.call_id) == "quarantined"


def test_retention_erases_a_call_whose_quarantine_ended(config: Config) -> None:
    config = quarantining(config)
    with Vault.open(config) as vault:
        past = datetime.now(UTC) - timedelta(days=10)
        (admission,) = admit(as_context(vault), [call()], now=past)
        assert admission.quarantine_until == past + timedelta(days=3)
        late = vault.calls.store_call(call(), admission=admission).call_id
        (fresh,) = admit(as_context(vault), [call(1)])
        waiting = vault.calls.store_call(call(1), admission=fresh).call_id

    with open_context(config) as ctx:
        dry = run_retention(ctx, dry_run=True)
        assert [(e.call_id, e.cause) for e in dry.erased] == [(late, "quarantine")]
        report = run_retention(ctx)
    assert [(e.call_id, e.cause) for e in report.erased] == [(late, "quarantine")]
    assert report.erased[0].certificate is not None
    with Vault.open(config) as vault:
        assert [c.id for c in vault.calls.list_calls()] == [waiting]
        assert vault.verify_audit().ok


def test_a_held_quarantined_call_is_not_erased(config: Config) -> None:
    config = quarantining(config)
    with Vault.open(config) as vault:
        (admission,) = admit(
            as_context(vault), [call()], now=datetime.now(UTC) - timedelta(days=10)
        )
        call_id = vault.calls.store_call(call(), admission=admission).call_id
        vault.holds.add_hold(call_id=call_id, reason="litigation")
        report = run_retention(as_context(vault))
    assert report.erased == ()
    assert [(s.call_id, s.reason) for s in report.skipped] == [(call_id, "legal-hold")]


def test_standing_consent_of_every_party_admits_the_call(config: Config) -> None:
    before = datetime(2026, 1, 1, tzinfo=UTC)
    with Vault.open(config) as vault:
        ids = [
            vault.consent.record_consent(
                party, method="web", scopes=["record", "analyse"], given_at=before
            ).id
            for party in (CALLER, CALLEE)
        ]
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    assert stored.consent_state == "given" and stored.job_id
    with Vault.open(config) as vault:
        per_call = vault.consent.consents(call_id=stored.call_id)
    assert sorted(c.participant for c in per_call) == sorted([CALLER, CALLEE])
    assert {c.note for c in per_call} == {f"standing consent {i}" for i in ids}
    assert all(c.scopes == ("analyse", "record") and not c.standing for c in per_call)


def test_consent_to_record_only_keeps_the_call_unprocessed(config: Config) -> None:
    """Transcription is analysis: a call whose parties consented to recording only is
    stored but not queued or processed until each consents to analysis too."""
    before = datetime(2026, 1, 1, tzinfo=UTC)
    with Vault.open(config) as vault:
        for party in (CALLER, CALLEE):
            vault.consent.record_consent(party, method="web", scopes=["record"], given_at=before)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    assert (stored.consent_state, stored.job_id) == ("given", None)
    with open_context(config) as ctx, pytest.raises(ConsentRequired, match="consented to analysis"):
        process_call(ctx, stored.call_id)
    with Vault.open(config) as vault:
        assert queue_missing_processing(as_context(vault), open_queue(config, vault)) == []
    with open_context(config) as ctx:
        first = add_consent(ctx, CALLER, method="web", scopes=["analyse"], call_id=stored.call_id)
        assert first.job_id is None
        second = add_consent(ctx, CALLEE, method="web", scopes=["analyse"], call_id=stored.call_id)
        assert second.job_id and not second.released


@pytest.mark.parametrize("flaw", ["withdrawn", "given-after-the-call", "one-party-only"])
def test_standing_consent_that_does_not_cover_the_call_is_not_used(
    config: Config, flaw: str
) -> None:
    before = datetime(2026, 1, 1, tzinfo=UTC)
    with Vault.open(config) as vault:
        vault.consent.record_consent(CALLER, method="web", scopes=["record"], given_at=before)
        if flaw == "given-after-the-call":
            after = datetime(2026, 4, 1, tzinfo=UTC)
            vault.consent.record_consent(CALLEE, method="web", scopes=["record"], given_at=after)
        elif flaw == "withdrawn":
            record = vault.consent.record_consent(
                CALLEE, method="web", scopes=["record"], given_at=before
            )
            vault.consent.withdraw_consent(record.id, at=datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ConsentRequired):
        with open_context(config) as ctx:
            ingest_captured(ctx, [call()])


def test_a_standing_consent_withdrawn_after_the_call_still_covered_it(config: Config) -> None:
    before = datetime(2026, 1, 1, tzinfo=UTC)
    with Vault.open(config) as vault:
        for party in (CALLER, CALLEE):
            record = vault.consent.record_consent(
                party, method="ivr", scopes=["record"], given_at=before
            )
            vault.consent.withdraw_consent(record.id, at=datetime(2026, 6, 1, tzinfo=UTC))
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    assert stored.consent_state == "given"


def test_the_decision_is_stored_with_the_call_or_not_at_all(config: Config) -> None:
    """A decision that cannot be carried out (here: an invalid retention class) rolls
    back the call it came with: no call without its retention date and audit entry."""
    with Vault.open(config) as vault:
        (admission,) = admit(as_context(vault), [call()], consent="verbal")
        broken = dataclasses.replace(admission, retention_class="Not A Class")
        with pytest.raises(Exception, match="retention class"):
            vault.calls.store_call(call(), admission=broken)
        assert vault.calls.list_calls() == []
        blobs = config.data_dir / "blobs"
        assert [p for p in blobs.rglob("*") if p.is_file()] == []
        stored = vault.calls.store_call(call(), admission=admission)
        assert retention_of(vault, stored.call_id).retain_until is not None
        assert vault.consent.consent_state(stored.call_id) == "given"
        assert actions(vault, stored.call_id)[:3] == [
            "call.ingest",
            "policy.decision",
            "retention.set",
        ]
        assert len(vault.consent.consents(call_id=stored.call_id)) == 2


def test_admission_checks_its_own_consistency() -> None:
    with pytest.raises(ValueError, match="quarantine_until"):
        Admission({}, "standard", None, consent_state="quarantined")
    with pytest.raises(ValueError, match="consent state"):
        Admission({}, "standard", None, consent_state="maybe")


def test_migration_0007_down_and_up_keeps_calls(config: Config) -> None:
    config = quarantining(config)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
    with Vault.open(config) as vault:
        engine = vault.engine
        cfg = _alembic_config()
        with engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM calls")).scalars().all() == [stored.call_id]
        with engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    with Vault.open(config) as reopened:
        # The state was dropped with its column: an old call counts as not needing consent.
        assert reopened.consent.consent_state(stored.call_id) == "not-needed"
        assert all(r.ok for r in reopened.calls.verify())


def test_a_quarantined_call_is_neither_processed_nor_read(config: Config) -> None:
    config = quarantining(config)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [call()])
        with pytest.raises(Quarantined, match="in quarantine"):
            process_call(ctx, stored.call_id)
    with Vault.open(config) as vault:
        with (
            pytest.raises(Quarantined),
            vault.calls.open_recording(stored.call_id, purpose="listen"),
        ):
            pass
        assert actions(vault, stored.call_id).count("call.quarantine") == 1
        refused = vault.audit_entries(action="recording.read.refused")
        assert [e.details["consent_state"] for e in refused] == ["quarantined"]
        # The subject's own access request is a ground that reads it.
        with vault.calls.open_recording(
            stored.call_id, purpose="subject-consent: access"
        ) as reader:
            assert reader.read_range(0, 4) == b"RIFF"
