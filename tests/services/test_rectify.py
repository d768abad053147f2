"""Rectification with history (GDPR art. 16), on SQLite and PostgreSQL: utterances and
participants corrected, the history encrypted with the call and gone with it, corrections
carried over when a call is processed again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from _audio import tone, wav_bytes
from _context import as_context
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config, load_config
from callvault.errors import InputError, IntegrityError, KeyDestroyed, NotFound, Restricted
from callvault.search import IndexRow, SearchIndex
from callvault.services import call_document, erase_call, process_call
from callvault.services.rectify import (
    correction_history,
    rectify_participant,
    rectify_utterance,
)
from callvault.vault import Vault
from callvault.vault._models import CorrectionRow, DataKeyRow
from callvault.vault._rights import _aad, _correction_cipher, _open

SUBJECT = "+14155550100"
CALLEE = "+442071838750"
TEXTS = ("hello this is alice", "my number is wrong", "thanks goodbye")


def utterance(position: int, text: str) -> Utterance:
    start = 2.0 * position
    words = tuple(
        Word(start + 0.3 * i, start + 0.3 * (i + 1), w, 0.8) for i, w in enumerate(text.split())
    )
    return Utterance(f"S{position % 2}", position % 2, start, start + 1.5, text, 0.8, words)


def transcript(texts: tuple[str, ...] = TEXTS, shift: float = 0.0) -> Transcript:
    utterances = tuple(utterance(n, t) for n, t in enumerate(texts))
    if shift:
        utterances = tuple(
            Utterance(u.speaker, u.channel, u.start + shift, u.end + shift, u.text, 0.8, u.words)
            for u in utterances
        )
    return Transcript("done", "en", "test", "1", utterances, diarized=False)


def store(vault: Vault, seed: int = 0) -> str:
    opts = FileImportOptions(caller=SUBJECT, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    call = import_bytes(wav_bytes(tone(6.0, 8000, 2, seed), 8000), f"call-{seed}.wav", opts)
    return vault.calls.store_call(call).call_id


def transcribe(vault: Vault, call_id: str, document: Transcript | None = None) -> None:
    document = document or transcript()
    recording_id = vault.calls.get_call(call_id).recording.id
    rows = [
        IndexRow(
            call_id, recording_id, n, u.speaker, None, None, "en", None, u.start, u.end, u.text
        )
        for n, u in enumerate(document.utterances)
    ]
    with vault.transaction() as tx:
        vault.transcripts.store_transcript(
            call_id,
            document.to_json().encode(),
            status="done",
            language="en",
            model_name="test",
            model_version="1",
            utterances=len(document.utterances),
            words=sum(len(u.words) for u in document.utterances),
            tx=tx,
        )
        SearchIndex(vault.engine, vault.search_key).index_utterances(tx.session, rows)


class FakePipeline:
    def __init__(self, result: Transcript) -> None:
        self.result = result

    def run(self, open_audio: Any, **_: Any) -> Transcript:
        return self.result


def texts(vault: Vault, call_id: str) -> list[str]:
    document = call_document(as_context(vault), call_id, purpose=None)["transcript"]
    return [u["text"] for u in document["utterances"]]


def hits(vault: Vault, query: str) -> list[tuple[str, int]]:
    return [
        (h.call_id, h.utterance) for h in SearchIndex(vault.engine, vault.search_key).search(query)
    ]


@pytest.fixture
def call_id(vault: Vault) -> str:
    call_id = store(vault)
    transcribe(vault, call_id)
    return call_id


# -- utterances ----------------------------------------------------------------------------


def test_rectify_utterance_replaces_text_words_and_index(vault: Vault, call_id: str) -> None:
    record = rectify_utterance(
        as_context(vault), call_id, 1, "  my  number is right ", reason="ticket 7", actor="dpo"
    )
    assert (record.target, record.key, record.old, record.new) == (
        "utterance",
        "1",
        "my number is wrong",
        "my number is right",
    )
    assert (record.actor, record.reason, record.start, record.end) == ("dpo", "ticket 7", 2.0, 3.5)
    shown = call_document(as_context(vault), call_id, purpose=None)["transcript"]
    assert [u["text"] for u in shown["utterances"]] == [TEXTS[0], "my number is right", TEXTS[2]]
    words = shown["utterances"][1]["words"]
    assert [(w["start"], w["end"], w["text"], w["confidence"]) for w in words] == [
        (2.0, 2.375, "my", 1.0),
        (2.375, 2.75, "number", 1.0),
        (2.75, 3.125, "is", 1.0),
        (3.125, 3.5, "right", 1.0),
    ]
    assert shown["utterances"][0]["words"][0]["confidence"] == 0.8  # others untouched
    info = vault.transcripts.transcript_info(call_id)
    assert info is not None and (info.utterances, info.words) == (3, 10)
    assert hits(vault, "right") == [(call_id, 1)]
    assert hits(vault, "wrong") == []
    assert hits(vault, "alice") == [(call_id, 0)]


def test_a_card_number_typed_into_a_correction_is_not_kept(vault: Vault, call_id: str) -> None:
    typed = "my card is 4111 1111 1111 1111 and the security code is 123"
    record = rectify_utterance(as_context(vault), call_id, 1, typed, reason="ticket 8", actor="dpo")
    assert not any(ch.isdigit() for ch in record.new) and "[CREDIT_CARD]" in record.new
    shown = call_document(as_context(vault), call_id, purpose=None)["transcript"]
    assert shown["utterances"][1]["text"] == record.new
    assert hits(vault, "4111") == [] and hits(vault, "123") == []


def test_history_has_old_new_who_why_and_the_audit_no_text(vault: Vault, call_id: str) -> None:
    first = rectify_utterance(
        as_context(vault), call_id, 1, "my number is right", reason="ticket 7"
    )
    second = rectify_utterance(
        as_context(vault), call_id, 1, "my number is fine", reason="ticket 8"
    )
    party = rectify_participant(
        as_context(vault), call_id, 0, name="Alice Smith", reason="ticket 9"
    )
    history = correction_history(as_context(vault), call_id, purpose="dpo review")
    assert [r.id for r in history] == [first.id, second.id, party.id]
    assert [(r.old, r.new, r.actor, r.reason) for r in history] == [
        ("my number is wrong", "my number is right", "test:pytest", "ticket 7"),
        ("my number is right", "my number is fine", "test:pytest", "ticket 8"),
        (None, "Alice Smith", "test:pytest", "ticket 9"),
    ]
    assert history[2].to_json()["key"] == "0.name"
    entries = vault.audit_entries()
    corrected = [e for e in entries if e.action == "transcript.correct"]
    assert [e.details for e in corrected] == [
        {"call_id": call_id, "correction_id": first.id, "utterance": 1},
        {"call_id": call_id, "correction_id": second.id, "utterance": 1},
    ]
    assert corrected[0].purpose == "ticket 7"
    [read] = [e for e in entries if e.action == "correction.read"]
    assert read.purpose == "dpo review" and read.details == {"call_id": call_id, "count": 3}
    dumped = json.dumps([e.to_dict() for e in entries])
    for secret in ("wrong", "right", "fine", "Alice", SUBJECT):
        assert secret not in dumped
    assert vault.verify_audit().ok


def test_history_is_encrypted_under_a_key_derived_from_the_data_key(
    vault: Vault, call_id: str
) -> None:
    record = rectify_utterance(
        as_context(vault), call_id, 1, "my number is right", reason="ticket 7"
    )
    with vault._read() as session:
        row = session.get(CorrectionRow, record.id)
        assert row is not None
        dek = vault._data_key(session, row.recording_id)
    assert b"right" not in row.new_value and b"wrong" not in row.old_value
    aad = _aad(row.id, row.target, row.target_key, "new")
    assert _open(_correction_cipher(dek), aad, row.new_value, row.id)["value"] == (
        "my number is right"
    )
    with pytest.raises(Exception):  # noqa: B017 - the DEK itself is not the key
        AESGCM(dek).decrypt(row.new_value[:12], row.new_value[12:], aad)
    # The old value does not pass for the new one, nor a value of another correction.
    with pytest.raises(IntegrityError, match=f"^correction {row.id}: a stored value does not"):
        _open(_correction_cipher(dek), aad, row.old_value, row.id)
    with pytest.raises(IntegrityError, match="fewer than a nonce and a tag"):
        _open(_correction_cipher(dek), aad, b"short", row.id)


def test_rectify_utterance_refuses_bad_input(vault: Vault, call_id: str) -> None:
    with pytest.raises(InputError, match=f"^call {call_id} has no utterance 3; its transcript"):
        rectify_utterance(as_context(vault), call_id, 3, "x", reason="r")
    with pytest.raises(InputError, match=f"^call {call_id} has no utterance -1;"):
        rectify_utterance(as_context(vault), call_id, -1, "x", reason="r")
    with pytest.raises(InputError, match="^the new text is empty"):
        rectify_utterance(as_context(vault), call_id, 0, "   ", reason="r")
    with pytest.raises(InputError, match="^the new text is empty"):
        vault.corrections.correct_utterance(call_id, 0, "\n", "r")
    with pytest.raises(InputError, match="^the reason is empty"):
        rectify_utterance(as_context(vault), call_id, 0, "hello", reason=" ")
    with pytest.raises(InputError, match="already has that text; nothing to correct"):
        rectify_utterance(as_context(vault), call_id, 2, "thanks goodbye", reason="r")
    with pytest.raises(NotFound, match="^call nope does not exist"):
        rectify_utterance(as_context(vault), "nope", 0, "hello", reason="r")
    untranscribed = store(vault, 1)
    with pytest.raises(InputError, match=f"^call {untranscribed} has no transcript yet"):
        rectify_utterance(as_context(vault), untranscribed, 0, "hello", reason="r")
    assert vault.corrections.correction_ids(call_id) == []
    assert texts(vault, call_id) == list(TEXTS)


def test_restricted_call_is_not_rectified_and_its_history_not_read(
    vault: Vault, call_id: str
) -> None:
    rectify_utterance(as_context(vault), call_id, 1, "my number is right", reason="ticket 7")
    restriction = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    with pytest.raises(Restricted, match=f"^call {call_id} is restricted by restriction"):
        rectify_utterance(as_context(vault), call_id, 0, "hello", reason="r")
    with pytest.raises(Restricted, match="it is not rectified until"):
        vault.corrections.correct_utterance(call_id, 0, "hello", "r")
    with pytest.raises(Restricted):
        rectify_participant(as_context(vault), call_id, 0, name="Alice", reason="r")
    with pytest.raises(Restricted, match="it is not read until"):
        correction_history(as_context(vault), call_id, purpose="review")
    assert [e.action for e in vault.audit_entries()][-1] == "correction.read.refused"
    assert len(correction_history(as_context(vault), call_id, purpose="legal-claim: case 1")) == 1
    vault.restrictions.lift_restriction(restriction.id, "done")
    rectify_participant(as_context(vault), call_id, 0, name="Alice", reason="r")


# -- participants --------------------------------------------------------------------------


def test_rectify_participant_name_and_phone(vault: Vault, call_id: str) -> None:
    named = rectify_participant(
        as_context(vault), call_id, 1, name=" Bob  Jones ", reason="ticket 3"
    )
    assert (named.key, named.old, named.new) == ("1.name", None, "Bob Jones")
    phoned = rectify_participant(
        as_context(vault), call_id, 0, phone="+1 415 555 0101", reason="typo"
    )
    assert (phoned.key, phoned.old, phoned.new) == ("0.phone", SUBJECT, "+14155550101")
    parties = vault.calls.get_call(call_id).participants
    assert (parties[0].phone, parties[1].name) == ("+14155550101", "Bob Jones")
    entry = [e for e in vault.audit_entries() if e.action == "participant.correct"][-1]
    assert entry.object_id == call_id and entry.purpose == "typo"
    assert entry.details == {
        "correction_id": phoned.id,
        "participant_id": parties[0].id,
        "position": 0,
        "field": "phone",
    }
    assert vault.holds.subject_calls("+14155550101")[0].call_id == call_id
    assert vault.holds.subject_calls(SUBJECT) == []


def test_rectify_participant_refuses_bad_input(vault: Vault, call_id: str) -> None:
    with pytest.raises(InputError, match="^the new phone number is not an E.164 phone number"):
        rectify_participant(as_context(vault), call_id, 0, phone="0207 123", reason="r")
    with pytest.raises(InputError, match="^the new name is empty"):
        rectify_participant(as_context(vault), call_id, 0, name="  ", reason="r")
    with pytest.raises(InputError, match=f"^call {call_id} has no participant at position 5;"):
        rectify_participant(as_context(vault), call_id, 5, name="Bob", reason="r")
    with pytest.raises(InputError, match="^give exactly one of --name and --phone"):
        rectify_participant(as_context(vault), call_id, 0, reason="r")
    with pytest.raises(InputError, match="^participant field 'role' cannot be corrected"):
        vault.corrections.correct_participant(call_id, 0, "role", "agent", "r")
    with pytest.raises(InputError, match="already has that phone; nothing to correct"):
        rectify_participant(as_context(vault), call_id, 0, phone=SUBJECT, reason="r")
    assert vault.corrections.correction_ids(call_id) == []


# -- erasure and re-processing ---------------------------------------------------------------


def test_erasing_the_call_destroys_its_history(vault: Vault, call_id: str) -> None:
    record = rectify_utterance(
        as_context(vault), call_id, 1, "my number is right", reason="ticket 7"
    )
    with vault._read() as session:
        row = session.get(CorrectionRow, record.id)
        assert row is not None
        copied = (row.id, row.target, row.target_key, row.recording_id, row.new_value)
    erase_call(as_context(vault), call_id, reason="art. 17")
    with vault._read() as session:
        assert session.scalars(select(CorrectionRow)).all() == []
        assert session.get(DataKeyRow, copied[3]) is None
        with pytest.raises(KeyDestroyed):
            vault._data_key(session, copied[3])
    assert hits(vault, "right") == []
    with pytest.raises(NotFound):
        correction_history(as_context(vault), call_id)
    with pytest.raises(NotFound):
        rectify_utterance(as_context(vault), call_id, 0, "hello", reason="r")
    with pytest.raises(NotFound):
        rectify_participant(as_context(vault), call_id, 0, name="Alice", reason="r")
    # A copy of the ciphertext taken before (a backup, say) opens with no key that is left.
    other = store(vault, 2)
    with vault._read() as session:
        leftover = vault._data_key(session, vault.calls.get_call(other).recording.id)
    with pytest.raises(IntegrityError):
        _open(_correction_cipher(leftover), _aad(*copied[:3], "new"), copied[4], copied[0])


def test_corrections_survive_processing_again(vault: Vault, call_id: str, config: Config) -> None:
    rectify_utterance(as_context(vault), call_id, 1, "my number is right", reason="ticket 7")
    rectify_utterance(as_context(vault), call_id, 2, "thanks bye", reason="ticket 8")
    # The new run finds utterance 1 again (moved by 0.04 s) but cuts the last one apart.
    fresh = list(transcript(shift=0.04).utterances)
    fresh[2] = Utterance("S0", 0, 4.0, 4.8, "thanks", 0.9, (Word(4.0, 4.8, "thanks", 0.9),))
    result = Transcript("done", "en", "test", "2", tuple(fresh), diarized=False)
    process_call(as_context(vault), call_id, pipeline=FakePipeline(result))  # type: ignore[arg-type]
    assert texts(vault, call_id) == [TEXTS[0], "my number is right", "thanks"]
    assert hits(vault, "right") == [(call_id, 1)]
    assert hits(vault, "wrong") == []
    assert len(correction_history(as_context(vault), call_id)) == 2
    # Moved by more than 0.05 s: not the same utterance, the machine's text stays.
    process_call(as_context(vault), call_id, pipeline=FakePipeline(transcript(shift=0.1)))  # type: ignore[arg-type]
    assert texts(vault, call_id) == list(TEXTS)


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.env = env  # type: ignore[attr-defined]
    return invoke


def ok(result: Result) -> Mapping[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def cli_call(run, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    with Vault.open(load_config(env=run.env)) as vault:
        call_id = store(vault)
        transcribe(vault, call_id)
    return call_id


def test_cli_rectify_and_history(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = cli_call(run, tmp_path)
    made = ok(
        run(
            "rights",
            "rectify",
            call_id,
            "--utterance",
            "1",
            "--text",
            "my number is right",
            "--reason",
            "ticket 7",
            "--json",
        )
    )
    assert (made["target"], made["key"], made["old"], made["new"], made["actor"]) == (
        "utterance",
        "1",
        "my number is wrong",
        "my number is right",
        "test:cli",
    )
    party = ok(
        run(
            "rights",
            "rectify",
            call_id,
            "--participant",
            "1",
            "--phone",
            "+44 20 7183 8751",
            "--reason",
            "typo",
            "--json",
        )
    )
    assert (party["key"], party["old"], party["new"]) == ("1.phone", CALLEE, "+442071838751")
    shown = ok(run("show", call_id, "--json"))
    assert shown["transcript"]["utterances"][1]["text"] == "my number is right"
    assert shown["participants"][1]["phone"] == "+442071838751"
    history = ok(run("rights", "history", call_id, "--purpose", "review", "--json"))
    assert history["call_id"] == call_id
    assert [c["id"] for c in history["corrections"]] == [made["id"], party["id"]]
    assert history["corrections"][0]["reason"] == "ticket 7"
    text = run("rights", "history", call_id)
    assert text.exit_code == 0
    assert "old: my number is wrong" in text.output and "2 correction(s)" in text.output
    searched = ok(run("search", "right", "--json"))
    assert [h["call_id"] for h in searched["hits"]] == [call_id]


def test_cli_rectify_errors(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = cli_call(run, tmp_path)

    def error(*args: str) -> tuple[int, str]:
        result = run("rights", "rectify", call_id, *args, "--reason", "r")
        return result.exit_code, result.stderr.strip()

    assert error("--utterance", "9", "--text", "x") == (
        2,
        f"error: call {call_id} has no utterance 9; its transcript has 3 utterance(s) "
        f"(indexes 0 to 2, as `callvault show {call_id}` lists them)",
    )
    assert error("--utterance", "0", "--text", " ") == (
        2,
        "error: the new text is empty; give the utterance's corrected words",
    )
    assert error("--utterance", "0") == (
        2,
        "error: --utterance takes --text (and not --name or --phone)",
    )
    assert error("--text", "x")[1] == "error: give exactly one of --utterance and --participant"
    assert error("--participant", "0", "--name", "A", "--phone", SUBJECT)[1] == (
        "error: give exactly one of --name and --phone to correct a participant"
    )
    assert error("--participant", "0", "--phone", "12")[1].startswith(
        "error: the new phone number is not an E.164 phone number"
    )
    ok(run("rights", "restrict", "--subject", SUBJECT, "--reason", "contested", "--json"))
    code, message = error("--utterance", "0", "--text", "hi")
    assert code == 1 and message.startswith(f"error: call {call_id} is restricted by restriction")
    refused = run("rights", "history", call_id)
    assert refused.exit_code == 1 and "is not read until" in refused.stderr
    assert (
        ok(run("rights", "history", call_id, "--purpose", "legal-claim: x", "--json"))[
            "corrections"
        ]
        == []
    )
    missing = run("rights", "rectify", "nope", "--utterance", "0", "--text", "x", "--reason", "r")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: call nope does not exist")
