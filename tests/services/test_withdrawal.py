"""Withdrawal or refusal of consent during a call: recorded, then the call erased or cut."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from _context import as_context
from _stored import hits, stored_frames, transcribe
from callvault.analysis import Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import ErasureRefused, InputError, NotFound
from callvault.services.withdrawal import withdraw_during_call
from callvault.vault import Vault

RATE = 8000
CALLER, CALLEE = "+14155550100", "+442071838750"
STARTED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def keep_before(config: Config) -> Iterator[Vault]:
    with Vault.open(dataclasses.replace(config, on_withdrawal="keep-before")) as opened:
        yield opened


def store(vault: Vault, seed: int = 0, seconds: float = 1.0) -> str:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at=STARTED.isoformat())
    data = wav_bytes(tone(seconds, RATE, 2, seed), RATE)
    return vault.calls.store_call(import_bytes(data, f"call-{seed}.wav", opts)).call_id


def utterance(channel: int, *words: tuple[float, float, str]) -> Utterance:
    parts = tuple(Word(start, end, text, 0.9) for start, end, text in words)
    text = " ".join(w.text for w in parts)
    return Utterance(f"S{channel}", channel, parts[0].start, parts[-1].end, text, 0.9, parts)


TALK = (
    utterance(0, (0.10, 0.30, "hello"), (0.35, 0.50, "there")),
    utterance(1, (0.52, 0.58, "fine"), (0.60, 0.80, "pineapple"), (0.80, 0.90, "plan")),
)


def test_keep_before_cuts_audio_transcript_and_search(keep_before: Vault) -> None:
    vault = keep_before
    call_id = store(vault)
    original = stored_frames(vault, call_id)
    transcribe(vault, call_id, *TALK)
    consent = vault.consent.record_consent(
        CALLEE, method="verbal", scopes=["record"], call_id=call_id, given_at=STARTED
    )

    outcome = withdraw_during_call(as_context(vault), call_id, "1", 0.59, reason="callee said stop")

    assert outcome.outcome == "cut" and outcome.mode == "keep-before"
    cut = stored_frames(vault, call_id)
    assert cut.shape == (4720, 2)  # 0.59 s at 8 kHz, sample-exact
    assert np.array_equal(cut, original[:4720])
    document = json.loads(vault.transcripts.read_transcript(call_id) or b"")
    words = [w[2] for u in document["utterances"] for w in u["words"]]
    assert words == ["hello", "there", "fine"]
    assert max(w[1] for u in document["utterances"] for w in u["words"]) <= 0.59
    assert hits(vault, "pineapple") == [] and hits(vault, "hello") == [call_id]
    assert hits(vault, "fine") == [call_id]
    (record,) = vault.consent.consents(call_id=call_id)
    assert record.id == consent.id
    assert record.withdrawn_at == STARTED + timedelta(seconds=0.59)
    assert outcome.withdrawal.consent_ids == (consent.id,)
    assert all(r.ok for r in vault.calls.verify())
    assert vault.verify_audit().ok
    (entry,) = vault.audit_entries(action="consent.withdraw.during-call")
    assert entry.purpose == "callee said stop"
    assert entry.details == {
        "participant_id": outcome.withdrawal.participant_id,
        "position": 1,
        "channel": 1,
        "at_s": 0.59,
        "withdrawn_at": (STARTED + timedelta(seconds=0.59)).isoformat(),
        "refused": False,
        "mode": "keep-before",
        "consents": [consent.id],
    }
    (cut_entry,) = vault.audit_entries(action="recording.cut")
    assert cut_entry.details["removed_utterances"] == 0
    assert cut_entry.details["frames"] == 4720
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert CALLER not in chain and CALLEE not in chain and "pineapple" not in chain
    assert outcome.to_json()["cut"]["frames"] == 4720


def test_discard_call_erases_everything(vault: Vault) -> None:
    assert vault.config.on_withdrawal == "discard-call"
    call_id, other = store(vault, 0), store(vault, 1)
    transcribe(vault, call_id, *TALK)
    consent = vault.consent.record_consent(
        CALLER, method="dtmf", scopes=["record"], call_id=call_id
    )

    outcome = withdraw_during_call(as_context(vault), call_id, CALLER, 0.7, reason="pressed 9")

    assert outcome.outcome == "erased" and outcome.certificate is not None
    assert [c.id for c in vault.calls.list_calls()] == [other]
    assert hits(vault, "hello") == [] and hits(vault, "pineapple") == []
    (record,) = vault.consent.consents(participant=CALLER)
    assert record.id == consent.id and record.call_id is None and not record.active
    assert len(vault.audit_entries(action="call.erase")) == 1
    assert vault.verify_audit().ok


@pytest.mark.parametrize(
    ("offset", "refused"), [(0.4, True), (0.0, False), (-1.0, False), (0.00001, False)]
)
def test_refusal_or_offset_zero_erases_whole(
    keep_before: Vault, offset: float, refused: bool
) -> None:
    call_id = store(keep_before)
    outcome = withdraw_during_call(
        as_context(keep_before), call_id, 0, offset, refused=refused, reason="refused at the prompt"
    )
    assert outcome.outcome == "erased"
    assert keep_before.calls.list_calls() == []
    (entry,) = keep_before.audit_entries(action="consent.withdraw.during-call")
    assert entry.details["refused"] is refused and entry.details["consents"] == []


def test_quarantined_call_is_erased(keep_before: Vault) -> None:
    call_id = store(keep_before)
    with keep_before.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE calls SET consent_state = 'quarantined' WHERE id = '{call_id}'"
        )
    outcome = withdraw_during_call(as_context(keep_before), call_id, 0, 0.5, reason="r")
    assert outcome.outcome == "erased" and keep_before.calls.list_calls() == []


@pytest.mark.parametrize("mode", ["discard-call", "keep-before"])
def test_held_call_is_refused_but_the_withdrawal_is_recorded(config: Config, mode: str) -> None:
    with Vault.open(dataclasses.replace(config, on_withdrawal=mode)) as vault:
        call_id = store(vault)
        before = stored_frames(vault, call_id)
        consent = vault.consent.record_consent(
            CALLER, method="verbal", scopes=["record"], call_id=call_id, given_at=STARTED
        )
        hold = vault.holds.add_hold(call_id, reason="Smith v Acme")
        with pytest.raises(ErasureRefused, match=f"legal hold {hold.id}"):
            withdraw_during_call(as_context(vault), call_id, 0, 0.5, reason="withdrawn")
        (record,) = vault.consent.consents(call_id=call_id)
        assert record.id == consent.id and not record.active
        assert len(vault.audit_entries(action="consent.withdraw.during-call")) == 1
        assert np.array_equal(stored_frames(vault, call_id), before)
        assert vault.audit_entries(action="call.erase") == []
        assert vault.audit_entries(action="recording.cut") == []


def test_without_consent_records_only_the_audit_entry(keep_before: Vault) -> None:
    call_id = store(keep_before)
    outcome = withdraw_during_call(as_context(keep_before), call_id, 0, 0.25, reason="r")
    assert outcome.withdrawal.consent_ids == ()
    assert keep_before.consent.consents(call_id=call_id) == []
    assert stored_frames(keep_before, call_id).shape == (2000, 2)
    assert keep_before.calls.get_call(call_id).recording.frames == 2000


def test_participant_must_be_of_the_call(vault: Vault) -> None:
    call_id = store(vault)
    with pytest.raises(NotFound, match="has no participant at position 5; it has 2"):
        withdraw_during_call(as_context(vault), call_id, 5, 0.5, reason="r")
    with pytest.raises(NotFound, match="is not a participant of call"):
        withdraw_during_call(as_context(vault), call_id, "+14155550111", 0.5, reason="r")
    with pytest.raises(InputError, match="is not a number of seconds"):
        withdraw_during_call(as_context(vault), call_id, 0, float("nan"), reason="r")
    with pytest.raises(InputError, match="the reason is empty"):
        withdraw_during_call(as_context(vault), call_id, 0, 0.5, reason=" ")
    assert vault.audit_entries(action="consent.withdraw.during-call") == []
    assert [c.id for c in vault.calls.list_calls()] == [call_id]


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(config: Config):  # type: ignore[no-untyped-def]
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
        "CALLVAULT_ON_WITHDRAWAL": "keep-before",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["consent", *args], env=env, catch_exceptions=False)

    return invoke


def test_cli_withdraw_during_call(run, vault: Vault) -> None:  # type: ignore[no-untyped-def]
    call_id = store(vault)
    consent = vault.consent.record_consent(
        CALLER, method="verbal", scopes=["record"], call_id=call_id
    )
    vault.close()

    missing = run("withdraw", "--call", call_id, "--participant", "0", "--reason", "r")
    assert missing.exit_code == 2
    assert missing.stderr == (
        "error: --call needs --participant, --offset (or --refused) and --reason\n"
    )
    mixed = run("withdraw", consent.id, "--offset", "3")
    assert mixed.exit_code == 2
    assert mixed.stderr == "error: --offset goes with --call, not with a CONSENT_ID\n"

    done = run(
        "withdraw", "--call", call_id, "--participant", "0", "--offset", "0.5",
        "--reason", "said stop", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["outcome"], result["mode"], result["position"]) == ("cut", "keep-before", 0)
    assert result["consent_ids"] == [consent.id] and result["cut"]["frames"] == 4000
    assert result["erasure"] is None

    refused = run(
        "withdraw", "--call", call_id, "--participant", CALLEE, "--refused", "--reason", "no"
    )
    assert refused.exit_code == 0, refused.output
    assert refused.stdout.splitlines() == [
        f"refusal recorded: participant 1 of call {call_id} at 0 s (0 consent(s) withdrawn)",
        f"call {call_id}: erased by crypto-shredding",
    ]


def test_cli_withdraw_by_consent_id_still_works(run, vault: Vault) -> None:  # type: ignore[no-untyped-def]
    consent = vault.consent.record_consent(CALLER, method="verbal", scopes=["record"])
    vault.close()
    done = run("withdraw", consent.id, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["active"] is False
    nothing = run("withdraw")
    assert nothing.exit_code == 2
    assert nothing.stderr == (
        "error: give a CONSENT_ID, or --call with --participant and --offset\n"
    )


def test_consent_naming_the_party_by_role_is_withdrawn(keep_before: Vault) -> None:
    call_id = store(keep_before)
    by_role = keep_before.consent.record_consent(
        "callee", method="ivr", scopes=["record"], call_id=call_id, given_at=STARTED
    )
    caller = keep_before.consent.record_consent(
        CALLER, method="ivr", scopes=["record"], call_id=call_id, given_at=STARTED
    )
    standing = keep_before.consent.record_consent(CALLEE, method="web", scopes=["record"])
    outcome = withdraw_during_call(as_context(keep_before), call_id, CALLEE, 0.5, reason="r")
    assert outcome.withdrawal.consent_ids == (by_role.id,)
    active = {c.id: c.active for c in keep_before.consent.consents()}
    assert active == {by_role.id: False, caller.id: True, standing.id: True}
