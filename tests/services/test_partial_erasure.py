"""Erasing one party of a call (`rights erase --scope leg`): their channel, utterances,
search rows, number and name; the other party's audio stays sample-identical."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

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
from callvault.errors import ErasureRefused, InputError
from callvault.services import erase_subject, find_subject
from callvault.vault import Vault

RATE = 8000
SUBJECT, OTHER = "+14155550100", "+442071838750"


def store(vault: Vault, seed: int = 0, channels: int = 2, parties: str = "both") -> str:
    """A call of SUBJECT (caller, channel 0) and OTHER; `parties`: "both", "alone" (no
    callee) or "legless" (the subject on no channel of their own)."""
    opts = FileImportOptions(caller=SUBJECT, callee=OTHER, started_at="2026-03-01T09:30:00Z")
    data = wav_bytes(tone(1.0, RATE, channels, seed), RATE)
    call = import_bytes(data, f"call-{seed}.wav", opts)
    first, *rest = call.participants
    if parties == "alone":
        call = dataclasses.replace(call, participants=(first,))
    elif parties == "legless":
        call = dataclasses.replace(
            call, participants=(dataclasses.replace(first, channel=None), *rest)
        )
    return vault.calls.store_call(call).call_id


def utterance(channel: int | None, start: float, text: str) -> Utterance:
    words = tuple(
        Word(start + 0.1 * n, start + 0.1 * n + 0.08, w, 0.9) for n, w in enumerate(text.split())
    )
    return Utterance(f"S{channel}", channel, start, words[-1].end, text, 0.9, words)


TALK = (
    utterance(0, 0.0, "my account number is secret"),
    utterance(1, 0.5, "thank you caller"),
    utterance(0, 0.7, "goodbye mango"),
)


def test_leg_erasure_silences_only_the_subject(vault: Vault) -> None:
    call_id = store(vault)
    before = stored_frames(vault, call_id).T
    transcribe(vault, call_id, *TALK)
    other = vault.consent.record_consent(OTHER, method="verbal", scopes=["record"], call_id=call_id)
    vault.corrections.correct_participant(call_id, 1, "name", "Agent Smith", "typo")
    vault.corrections.correct_participant(call_id, 0, "name", "Jane Doe", "typo")

    result = erase_subject(as_context(vault), SUBJECT, reason="art. 17 request 9", scope="leg")

    assert result.to_json() == {
        "subject": SUBJECT,
        "erased": [],
        "scope": "leg",
        "partial": [call_id],
    }
    after = stored_frames(vault, call_id).T
    assert after.shape == before.shape
    assert not after[0].any()
    assert np.array_equal(after[1], before[1])
    document = json.loads(vault.transcripts.read_transcript(call_id) or b"")
    assert [u["text"] for u in document["utterances"]] == ["thank you caller"]
    assert hits(vault, "secret") == [] and hits(vault, "mango") == []
    assert hits(vault, "thank") == [call_id]
    record = vault.calls.get_call(call_id)
    caller, callee = record.participants
    assert (caller.role, caller.phone, caller.name) == ("caller", None, None)
    assert (callee.phone, callee.name) == (OTHER, "Agent Smith")
    assert record.to_json()["erasure_state"] == "partial"
    assert [c.to_json()["erasure_state"] for c in vault.calls.list_calls()] == ["partial"]
    assert find_subject(as_context(vault), SUBJECT).calls == ()
    assert find_subject(as_context(vault), "Jane Doe").calls == ()
    # The other party's rectification is kept (re-encrypted); the subject's is destroyed.
    assert [(c.key, c.new) for c in vault.corrections.corrections(call_id)] == [
        ("1.name", "Agent Smith")
    ]
    assert [c.id for c in vault.consent.consents(call_id=call_id)] == [other.id]
    assert all(r.ok for r in vault.calls.verify())
    assert vault.verify_audit().ok
    (summary,) = vault.audit_entries(action="rights.erase")
    assert summary.details == {
        "calls": [call_id],
        "erased": [],
        "partial": [call_id],
        "scope": "leg",
        "complete": True,
        "method": "crypto-shredding",
    }
    (leg,) = vault.audit_entries(action="recording.erase-leg")
    assert leg.details["edit"] == {"edit": "silence-channels", "channels": [0]}
    assert leg.details["removed_utterances"] == 2
    assert (leg.details["corrections_kept"], leg.details["corrections_destroyed"]) == (1, 1)
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert SUBJECT not in chain and "secret" not in chain and "Jane" not in chain


def test_mono_alone_and_legless_calls_are_erased_whole(config: Config) -> None:
    with Vault.open(dataclasses.replace(config, subject_erasure="leg")) as vault:
        mono = store(vault, 0, channels=1)
        alone = store(vault, 1, parties="alone")
        legless = store(vault, 2, parties="legless")
        stereo = store(vault, 3)
        transcribe(vault, mono, utterance(None, 0.0, "mono secret"))

        result = erase_subject(as_context(vault), SUBJECT, reason="asked")

        assert result.scope == "leg"
        assert set(result.erased) == {mono, alone, legless} and result.partial == (stereo,)
        assert [c.id for c in vault.calls.list_calls()] == [stereo]
        assert hits(vault, "secret") == []
        assert len(vault.audit_entries(action="call.erase")) == 3


def test_hold_refuses_leg_erasure_and_nothing_changes(vault: Vault) -> None:
    call_id = store(vault)
    before = stored_frames(vault, call_id).T
    hold = vault.holds.add_hold(call_id, reason="Smith v Acme")
    with pytest.raises(ErasureRefused, match=f"legal hold {hold.id}"):
        erase_subject(as_context(vault), SUBJECT, reason="asked", scope="leg")
    assert np.array_equal(stored_frames(vault, call_id).T, before)
    assert vault.calls.get_call(call_id).participants[0].phone == SUBJECT
    assert vault.audit_entries(action="recording.erase-leg") == []
    assert vault.audit_entries(action="rights.erase") == []


def test_default_scope_is_the_whole_call(vault: Vault) -> None:
    call_id = store(vault)
    result = erase_subject(as_context(vault), SUBJECT, reason="asked")
    assert result.to_json() == {"subject": SUBJECT, "erased": [call_id]}
    with pytest.raises(InputError, match="erasure scope 'half' is unknown"):
        erase_subject(as_context(vault), SUBJECT, reason="asked", scope="half")


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(config: Config) -> Iterator[object]:
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    yield invoke


def test_cli_erase_scope_leg(run, vault: Vault) -> None:  # type: ignore[no-untyped-def]
    call_id = store(vault)
    vault.close()
    erased = run(
        "rights", "erase", "--subject", SUBJECT, "--reason", "asked", "--scope", "leg",
        "--yes", "--json",
    )  # fmt: skip
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout) == {
        "subject": SUBJECT,
        "erased": [],
        "scope": "leg",
        "partial": [call_id],
    }
    shown = run("show", call_id, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["erasure_state"] == "partial"
    assert document["participants"][0]["phone"] is None
    listed = run("list", "--json")
    assert [c["erasure_state"] for c in json.loads(listed.stdout)["calls"]] == ["partial"]
