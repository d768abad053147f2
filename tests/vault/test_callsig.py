"""Call metadata under signature (issue 17, finding 5), on SQLite and PostgreSQL.

What decides who may read a call, changed beside callvault (SQL), makes `verify` name the
call and the field; every change made through callvault is signed again and verifies.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from _audio import tone, wav_bytes
from _context import as_context
from _stored import transcribe
from callvault.accounts import Accounts
from callvault.accounts._models import UserRow
from callvault.analysis import Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.services import (
    add_consent,
    erase_subject,
    ingest_captured,
    open_context,
    run_retention,
)
from callvault.services.withdrawal import withdraw_during_call
from callvault.vault import Vault
from callvault.vault._callsig import BACKFILL_ACTION
from callvault.vault._db import _alembic_config
from callvault.vault._models import (
    CallRow,
    CallSignatureRow,
    ConsentRow,
    LegalHoldRow,
    ParticipantRow,
    RestrictionRow,
)

CALLER, CALLEE = "+14155550100", "+442071838750"
STARTED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PASSWORD = "correct horse battery"


def store(vault: Vault, seed: int = 0, agent: str = "alice", caller: str = CALLER) -> str:
    opts = FileImportOptions(
        caller=caller, callee=CALLEE, agent=agent, started_at=STARTED.isoformat()
    )
    data = wav_bytes(tone(1.0, 8000, 2, seed), 8000)
    return vault.calls.store_call(import_bytes(data, f"call-{seed}.wav", opts)).call_id


def tamper(vault: Vault, statement: Any) -> None:
    """Run one statement beside callvault: a plain session, as any SQL client would."""
    with Session(vault.engine) as session, session.begin():
        session.execute(statement)


def faults(vault: Vault, call_id: str) -> tuple[str, ...]:
    (result,) = vault.calls.verify(call_id)
    return result.faults


def all_ok(vault: Vault) -> bool:
    return all(r.ok for r in vault.calls.verify())


def participant_id(vault: Vault, call_id: str, position: int) -> str:
    with Session(vault.engine) as session:
        return session.scalars(
            select(ParticipantRow.id).where(
                ParticipantRow.call_id == call_id, ParticipantRow.position == position
            )
        ).one()


def changed(call_id: str, field: str) -> str:
    return f"call {call_id}: {field} does not match its signed value (changed outside callvault)"


def deleted(call_id: str, field: str) -> str:
    return (
        f"call {call_id}: {field} is signed but missing from the database (a row was "
        "deleted outside callvault)"
    )


# -- edits beside callvault are named ----------------------------------------------------


def test_agent_changed_by_sql_is_named(vault: Vault) -> None:
    call_id, other = store(vault, 0), store(vault, 1)
    assert all_ok(vault)
    tamper(vault, update(CallRow).where(CallRow.id == call_id).values(agent="mallory"))
    results = {r.call_id: r for r in vault.calls.verify()}
    assert results[call_id].faults == (changed(call_id, "calls.agent"),)
    assert results[other].ok


def test_participant_number_changed_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    pid = participant_id(vault, call_id, 0)
    tamper(vault, update(ParticipantRow).where(ParticipantRow.id == pid).values(phone="+1555"))
    assert faults(vault, call_id) == (changed(call_id, f"participants[{pid}].phone"),)


def test_consent_state_changed_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    tamper(vault, update(CallRow).where(CallRow.id == call_id).values(consent_state="given"))
    assert faults(vault, call_id) == (changed(call_id, "calls.consent_state"),)


def test_retention_date_changed_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    vault.holds.set_retention(call_id, "standard", STARTED + timedelta(days=30))
    assert all_ok(vault)
    later = STARTED + timedelta(days=3650)
    tamper(vault, update(CallRow).where(CallRow.id == call_id).values(retain_until=later))
    assert faults(vault, call_id) == (changed(call_id, "calls.retain_until"),)


def test_hold_removed_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    hold = vault.holds.add_hold(call_id, reason="litigation 4")
    assert all_ok(vault)
    tamper(vault, delete(LegalHoldRow).where(LegalHoldRow.id == hold.id))
    assert faults(vault, call_id) == tuple(
        deleted(call_id, f"legal_holds[{hold.id}].{name}")
        for name in ("call_id", "released_at", "subject_id")
    )


def test_subject_hold_released_by_sql_is_named_on_each_of_its_calls(vault: Vault) -> None:
    first, second = store(vault, 0), store(vault, 1)
    hold = vault.holds.add_hold(subject=CALLER, reason="litigation 5")
    assert all_ok(vault)
    now = datetime.now(UTC)
    tamper(vault, update(LegalHoldRow).where(LegalHoldRow.id == hold.id).values(released_at=now))
    results = {r.call_id: r.faults for r in vault.calls.verify()}
    field = f"legal_holds[{hold.id}].released_at"
    assert results == {first: (changed(first, field),), second: (changed(second, field),)}


def test_restriction_lifted_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    restriction = vault.restrictions.restrict(CALLEE, "accuracy contested")
    assert all_ok(vault)
    now = datetime.now(UTC)
    tamper(
        vault,
        update(RestrictionRow).where(RestrictionRow.id == restriction.id).values(lifted_at=now),
    )
    assert faults(vault, call_id) == (
        changed(call_id, f"restrictions[{restriction.id}].lifted_at"),
    )


def test_consent_withdrawn_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    consent = vault.consent.record_consent(
        CALLER, method="verbal", scopes=["record"], call_id=call_id
    )
    now = datetime.now(UTC)
    tamper(vault, update(ConsentRow).where(ConsentRow.id == consent.id).values(withdrawn_at=now))
    assert faults(vault, call_id) == (changed(call_id, f"consents[{consent.id}].withdrawn_at"),)


def test_team_of_the_agent_changed_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault, agent="alice")
    Accounts(vault).add_user("alice", PASSWORD, "rep", team="east")
    assert all_ok(vault)
    tamper(vault, update(UserRow).where(UserRow.username == "alice").values(team="west"))
    assert faults(vault, call_id) == (changed(call_id, "users.team (of calls.agent)"),)


def test_participant_added_by_sql_is_named(vault: Vault) -> None:
    call_id = store(vault)
    row = {"id": "p" * 32, "call_id": call_id, "position": 2, "role": "callee"}
    tamper(vault, insert(ParticipantRow).values(**row, phone="+15550001111", is_agent=False))
    assert faults(vault, call_id)[0] == (
        f"call {call_id}: participants[{'p' * 32}].is_agent is in the database but not under "
        "signature (a row was added outside callvault)"
    )


def test_signature_deleted_or_forged_is_named(vault: Vault) -> None:
    first, second = store(vault, 0), store(vault, 1)
    tamper(vault, delete(CallSignatureRow).where(CallSignatureRow.call_id == first))
    with Session(vault.engine) as session, session.begin():
        row = session.get(CallSignatureRow, second)
        assert row is not None
        row.body = row.body.replace('"fields":{"', '"fields":{"x')
    results = {r.call_id: r.faults for r in vault.calls.verify()}
    assert results[first] == (f"call {first}: its metadata signature is missing (call_signatures)",)
    assert results[second] == (
        f"call {second}: the signature of its metadata does not verify (call_signatures was "
        "changed)",
    )
    # Opening the vault again does not sign a call whose signature was removed.
    with Vault.open(vault.config) as reopened:
        assert not reopened.calls.verify(first)[0].ok


def test_cli_verify_all_names_the_edited_call_and_field(config: Config, tmp_path: Path) -> None:
    with Vault.open(config) as vault:
        call_id = store(vault)
        tamper(vault, update(CallRow).where(CallRow.id == call_id).values(agent="mallory"))
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }
    result = CliRunner().invoke(cli, ["verify", "--all"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert f"FAULT  call {call_id}: {changed(call_id, 'calls.agent')}\n" in result.stdout
    as_json = CliRunner().invoke(cli, ["verify", "--all", "--json"], env=env)
    (recording,) = json.loads(as_json.stdout)["recordings"]
    assert recording["faults"] == [changed(call_id, "calls.agent")]


# -- changes made through callvault verify ----------------------------------------------


def test_ingest_signs_the_call(vault: Vault) -> None:
    call_id = store(vault)
    assert faults(vault, call_id) == ()
    with Session(vault.engine) as session:
        row = session.get(CallSignatureRow, call_id)
        assert row is not None and row.key_id == vault.signer.key_id
        # Digests only: no number is copied into the signed metadata.
        assert CALLER not in row.body and "alice" not in row.body


def test_quarantine_then_consent_release_verifies(config: Config) -> None:
    config = dataclasses.replace(config, consent_missing="quarantine", quarantine_days=3)
    opts = FileImportOptions(caller="+493012345678", callee="+498912345678")
    data = wav_bytes(tone(0.4, 8000, 2, 0), 8000)
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [import_bytes(data, "q.wav", opts)])
    assert stored.consent_state == "quarantined"
    with Vault.open(config) as vault:
        assert all_ok(vault)
    with open_context(config) as ctx:
        for party in ("+493012345678", "+498912345678"):
            add_consent(ctx, party, method="verbal", scopes=["record"], call_id=stored.call_id)
    with Vault.open(config) as vault:
        assert vault.consent.consent_state(stored.call_id) == "given"
        assert all_ok(vault)


def test_set_retention_verifies(vault: Vault) -> None:
    call_id = store(vault)
    vault.holds.set_retention(call_id, "standard", STARTED + timedelta(days=30))
    vault.holds.set_retention(call_id, "standard", STARTED + timedelta(days=60))
    assert all_ok(vault)


def test_holds_added_and_released_verify(vault: Vault) -> None:
    call_id = store(vault)
    on_call = vault.holds.add_hold(call_id, reason="litigation 1")
    on_subject = vault.holds.add_hold(subject=CALLEE, reason="litigation 2")
    assert all_ok(vault)
    vault.holds.release_hold(on_call.id, reason="settled")
    vault.holds.release_hold(on_subject.id, reason="settled")
    assert all_ok(vault)


def test_consent_recorded_and_withdrawn_verifies(vault: Vault) -> None:
    call_id = store(vault)
    consent = vault.consent.record_consent(
        CALLER, method="verbal", scopes=["record"], call_id=call_id
    )
    assert all_ok(vault)
    vault.consent.withdraw_consent(consent.id)
    assert all_ok(vault)


def test_restriction_added_and_lifted_verifies(vault: Vault) -> None:
    store(vault)
    restriction = vault.restrictions.restrict(CALLER, "accuracy contested")
    assert all_ok(vault)
    vault.restrictions.lift_restriction(restriction.id, "resolved")
    assert all_ok(vault)


def test_participant_corrected_verifies(vault: Vault) -> None:
    call_id = store(vault)
    vault.corrections.correct_participant(call_id, 0, "phone", "+14155550199", "typo")
    vault.corrections.correct_participant(call_id, 1, "name", "Agent Smith", "typo")
    assert all_ok(vault)


def _talk() -> tuple[Utterance, ...]:
    def said(channel: int, start: float, text: str) -> Utterance:
        words = tuple(
            Word(start + 0.1 * n, start + 0.1 * n + 0.08, w, 0.9)
            for n, w in enumerate(text.split())
        )
        return Utterance(f"S{channel}", channel, start, words[-1].end, text, 0.9, words)

    return (said(0, 0.0, "my number is here"), said(1, 0.5, "thank you"))


def test_leg_erasure_verifies(vault: Vault) -> None:
    call_id = store(vault)
    transcribe(vault, call_id, *_talk())
    result = erase_subject(as_context(vault), CALLER, reason="art. 17 request 9", scope="leg")
    assert result.to_json()["partial"] == [call_id]
    assert all_ok(vault)


def test_subject_erasure_leaves_the_other_calls_verifying(vault: Vault) -> None:
    store(vault, 0)
    kept = store(vault, 1, agent="bob", caller="+15550002222")
    assert all_ok(vault)
    erase_subject(as_context(vault), CALLER, reason="art. 17 request 10", scope="call")
    assert [r.call_id for r in vault.calls.verify()] == [kept]
    assert all_ok(vault)


def test_withdrawal_during_call_verifies(config: Config) -> None:
    with Vault.open(dataclasses.replace(config, on_withdrawal="keep-before")) as vault:
        call_id = store(vault)
        transcribe(vault, call_id, *_talk())
        vault.consent.record_consent(
            CALLEE, method="verbal", scopes=["record"], call_id=call_id, given_at=STARTED
        )
        withdraw_during_call(as_context(vault), call_id, "1", 0.5, reason="callee said stop")
        assert all_ok(vault)


def test_retention_run_leaves_the_kept_calls_verifying(config: Config) -> None:
    with Vault.open(config) as vault:
        due, kept = store(vault, 0), store(vault, 1)
        vault.holds.set_retention(due, "standard", STARTED + timedelta(days=1))
        vault.holds.set_retention(kept, "standard", STARTED + timedelta(days=3650))
        run_retention(as_context(vault), now=STARTED + timedelta(days=2))
    with Vault.open(config) as vault:
        assert [r.call_id for r in vault.calls.verify()] == [kept]
        assert all_ok(vault)


def test_users_added_and_moved_between_teams_verify(vault: Vault) -> None:
    call_id = store(vault, agent="alice")
    Accounts(vault).add_user("alice", PASSWORD, "rep", team="east")
    assert all_ok(vault)
    Accounts(vault).set_role("alice", "rep", "west")
    assert all_ok(vault)
    Accounts(vault).add_user("mona", PASSWORD, "manager", team="west")
    assert faults(vault, call_id) == ()


# -- calls stored before migration 0014 -------------------------------------------------


def test_calls_from_before_0014_are_signed_once_on_open(config: Config) -> None:
    with Vault.open(config) as vault:
        call_id = store(vault)
        cfg = _alembic_config()
        with vault.engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0013")
        with vault.engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert faults(vault, call_id) == (
            f"call {call_id}: its metadata is not signed yet (open the vault to sign it)",
        )
    with Vault.open(config) as reopened:
        assert all_ok(reopened)
        (entry,) = reopened.audit_entries(action=BACKFILL_ACTION)
        assert entry.details["calls"] == [call_id]
        assert reopened.verify_audit().ok
    with Vault.open(config) as again:
        assert len(again.audit_entries(action=BACKFILL_ACTION)) == 1


@pytest.mark.parametrize("field", ["agent", "consent_state"])
def test_an_edit_after_the_backfill_is_still_caught(config: Config, field: str) -> None:
    with Vault.open(config) as vault:
        call_id = store(vault)
        tamper(vault, update(CallRow).where(CallRow.id == call_id).values({field: "x"}))
    with Vault.open(config) as reopened:
        assert faults(reopened, call_id) == (changed(call_id, f"calls.{field}"),)
