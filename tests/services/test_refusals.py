"""A spoken refusal to be recorded, found in a processed call (issue 20): honoured through
the withdrawal path (cut or silenced), the cut part quarantined, flagged for review,
reversed, and shredded when its quarantine ends. Hand-made transcripts (the detector is
real; the speech recogniser is exercised in test_refusals_asr.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from _audio import tone, wav_bytes
from _stored import hits, stored_frames, transcribe
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import InputError, NotAuthorized
from callvault.services import Context
from callvault.services.access import Principal
from callvault.services.refusals import (
    apply_refusal,
    detect_and_honour,
    list_refusals,
    reverse_refusal,
    show_refusal,
)
from callvault.services.retention import run_retention
from callvault.vault import Vault
from callvault.vault._models import RefusalRow

RATE = 8000
CALLER, CALLEE = "+14155550100", "+442071838750"
STARTED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CORA = Principal("cora", "compliance")


def open_vault(config: Config, **overrides: object) -> Iterator[Vault]:
    with Vault.open(dataclasses.replace(config, **overrides)) as opened:  # type: ignore[arg-type]
        yield opened


@pytest.fixture
def keep_before(config: Config) -> Iterator[Vault]:
    yield from open_vault(config, on_withdrawal="keep-before")


def ctx_of(vault: Vault) -> Context:
    return Context(vault.config, vault, principal=CORA)


def store(vault: Vault, seconds: float = 4.0) -> str:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at=STARTED.isoformat())
    data = wav_bytes(tone(seconds, RATE, 2, 3), RATE)
    return vault.calls.store_call(import_bytes(data, "call.wav", opts)).call_id


def said(channel: int, start: float, text: str, step: float = 0.2) -> Utterance:
    words = tuple(
        Word(start + i * step, start + i * step + 0.25, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(f"S{channel}", channel, words[0].start, words[-1].end, text, 0.9, words)


REFUSING = (
    said(0, 0.1, "thanks for calling how can I help"),
    said(1, 2.0, "I do not want to be recorded"),
    said(1, 3.6, "pineapple"),
)


def transcript_of(*utterances: Utterance) -> Transcript:
    return Transcript("done", "en", "test", "1", tuple(utterances), False)


def processed(vault: Vault, *utterances: Utterance) -> tuple[str, Transcript]:
    """A stored call whose stored transcript is `utterances` (as processing leaves it)."""
    call_id = store(vault)
    transcribe(vault, call_id, *utterances)
    return call_id, transcript_of(*utterances)


def words_of(vault: Vault, call_id: str) -> list[str]:
    document = json.loads(vault.transcripts.read_transcript(call_id) or b"{}")
    return [w[2] for u in document.get("utterances", []) for w in u["words"]]


def test_honour_cuts_at_the_refusal_sample_exact(keep_before: Vault) -> None:
    vault = keep_before
    call_id, transcript = processed(vault, *REFUSING)
    original = stored_frames(vault, call_id)
    consent = vault.consent.record_consent(
        CALLEE, method="verbal", scopes=["record"], call_id=call_id, given_at=STARTED
    )

    detection = detect_and_honour(ctx_of(vault), call_id, transcript)

    assert detection is not None
    assert (detection.status, detection.outcome, detection.decision) == ("applied", "cut", "honour")
    assert detection.channel == 1 and detection.position == 1 and detection.quarantined
    cut_at = round(detection.start * RATE)
    assert 2.0 <= detection.start <= 2.5
    cut = stored_frames(vault, call_id)
    assert cut.shape == (cut_at, 2) and np.array_equal(cut, original[:cut_at])
    assert "recorded" not in words_of(vault, call_id) and "pineapple" not in words_of(
        vault, call_id
    )
    assert words_of(vault, call_id)[:2] == ["thanks", "for"]
    assert hits(vault, "pineapple") == []
    (record,) = vault.consent.consents(call_id=call_id)
    assert record.id == consent.id and not record.active
    assert detection.consent_ids == (consent.id,)
    for action in (
        "refusal.detect",
        "refusal.quarantine",
        "consent.withdraw.during-call",
        "recording.cut",
    ):
        assert len(vault.audit_entries(action=action)) == 1, action
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert "want to be recorded" not in chain and CALLEE not in chain
    assert all(r.ok for r in vault.calls.verify()) and vault.verify_audit().ok
    # The words are shown to compliance, sealed in the database.
    (view,) = list_refusals(ctx_of(vault))
    assert view.words is not None and "recorded" in view.words
    with vault.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT words FROM refusal_detections").scalar_one()
    assert b"recorded" not in bytes(raw)


def test_discard_call_silences_then_retention_erases(vault: Vault) -> None:
    assert vault.config.on_withdrawal == "discard-call"
    call_id, transcript = processed(vault, *REFUSING)
    original = stored_frames(vault, call_id)

    detection = detect_and_honour(ctx_of(vault), call_id, transcript)

    assert detection is not None and detection.outcome == "erased"
    silenced = stored_frames(vault, call_id)
    assert silenced.shape == original.shape and not silenced.any()
    assert words_of(vault, call_id) == [] and hits(vault, "thanks") == []
    _expire(vault)
    report = run_retention(ctx_of(vault))
    (expiry,) = report.refusals
    assert expiry.erasure is not None and expiry.certificate is not None
    assert vault.calls.list_calls() == []
    assert vault.verify_audit().ok


def test_refusal_first_thing_said_erases(keep_before: Vault) -> None:
    call_id, transcript = processed(
        keep_before, said(1, 0.5, "I do not want to be recorded"), said(0, 2.5, "okay")
    )
    detection = detect_and_honour(ctx_of(keep_before), call_id, transcript)
    assert detection is not None and detection.outcome == "erased"
    (entry,) = keep_before.audit_entries(action="consent.withdraw.during-call")
    assert entry.details["refused"] is True


def test_flag_cuts_nothing_and_can_be_applied(config: Config) -> None:
    for vault in open_vault(config, spoken_refusal="flag", on_withdrawal="keep-before"):
        call_id, transcript = processed(vault, *REFUSING)
        original = stored_frames(vault, call_id)

        detection = detect_and_honour(ctx_of(vault), call_id, transcript)

        assert detection is not None and detection.status == "flagged"
        assert not detection.quarantined and detection.decision == "flag"
        assert np.array_equal(stored_frames(vault, call_id), original)
        assert "pineapple" in words_of(vault, call_id)
        assert [v.detection.id for v in list_refusals(ctx_of(vault), status="flagged")] == [
            detection.id
        ]
        # Processing again records it once.
        assert detect_and_honour(ctx_of(vault), call_id, transcript) is None

        applied = apply_refusal(ctx_of(vault), detection.id, reason="confirmed by listening")

        assert applied.detection.status == "applied" and applied.detection.outcome == "cut"
        assert applied.detection.reviewed_by == "user:cora"
        assert stored_frames(vault, call_id).shape[0] == round(detection.start * RATE)
        with pytest.raises(InputError, match="is applied, not flagged"):
            apply_refusal(ctx_of(vault), detection.id, reason="again")


def test_reverse_restores_the_recording_and_consent(keep_before: Vault) -> None:
    vault = keep_before
    call_id, transcript = processed(vault, *REFUSING)
    original = stored_frames(vault, call_id)
    vault.consent.record_consent(
        CALLEE, method="verbal", scopes=["record"], call_id=call_id, given_at=STARTED
    )
    detection = detect_and_honour(ctx_of(vault), call_id, transcript)
    assert detection is not None
    vault.rotate_keys()  # the quarantine's key is re-wrapped with the others

    view = reverse_refusal(ctx_of(vault), detection.id, reason="she said she did not mind")

    assert view.detection.status == "reversed" and view.job_id is not None
    assert not view.detection.quarantined
    assert np.array_equal(stored_frames(vault, call_id), original)
    (record,) = vault.consent.consents(call_id=call_id)
    assert record.active
    (entry,) = vault.audit_entries(action="refusal.reverse")
    assert entry.purpose == "she said she did not mind"
    assert entry.details["consents"] == [record.id]
    assert len(vault.audit_entries(action="recording.restore")) == 1
    # Processing again (the queued job) does not apply the reversed detection again.
    transcribe(vault, call_id, *REFUSING)
    assert detect_and_honour(ctx_of(vault), call_id, transcript) is None
    assert np.array_equal(stored_frames(vault, call_id), original)
    shown = show_refusal(ctx_of(vault), detection.id)
    assert shown.words is not None and "recorded" in shown.words
    with pytest.raises(InputError, match="is reversed: only an applied or a flagged"):
        reverse_refusal(ctx_of(vault), detection.id, reason="again")
    assert all(r.ok for r in vault.calls.verify()) and vault.verify_audit().ok


def _expire(vault: Vault) -> None:
    """Every quarantine ended a minute ago (retention never runs in the future)."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    with vault.engine.begin() as conn:
        conn.execute(update(RefusalRow).values(quarantine_until=past))


def test_after_expiry_retention_shreds_and_reverse_refuses(keep_before: Vault) -> None:
    vault = keep_before
    call_id, transcript = processed(vault, *REFUSING)
    detection = detect_and_honour(ctx_of(vault), call_id, transcript)
    assert detection is not None
    with vault.engine.connect() as conn:
        key = conn.exec_driver_sql("SELECT quarantine_key FROM refusal_detections").scalar_one()
    assert key in set(vault.store.iter_keys())
    _expire(vault)

    report = run_retention(ctx_of(vault))

    (expiry,) = report.refusals
    assert expiry.erasure is None and expiry.certificate is not None
    assert expiry.certificate["method"] == "crypto-shredding"
    assert expiry.certificate["blobs"][0]["key"] == key
    assert key not in set(vault.store.iter_keys())
    (shred,) = vault.audit_entries(action="refusal.quarantine.shred")
    assert shred.details["detection_id"] == detection.id
    gone = vault.refusals.get(detection.id)
    assert gone.status == "expired" and not gone.quarantined
    assert [c.id for c in vault.calls.list_calls()] == [call_id]  # the cut call stays
    with pytest.raises(InputError, match="cannot be reversed: its quarantine ended"):
        reverse_refusal(ctx_of(vault), detection.id, reason="too late")
    assert show_refusal(ctx_of(vault), detection.id).words is None


def test_held_call_is_flagged_not_cut(keep_before: Vault) -> None:
    call_id, transcript = processed(keep_before, *REFUSING)
    keep_before.holds.add_hold(call_id, reason="Smith v Acme")
    original = stored_frames(keep_before, call_id)
    detection = detect_and_honour(ctx_of(keep_before), call_id, transcript)
    assert detection is not None and detection.status == "flagged"
    assert np.array_equal(stored_frames(keep_before, call_id), original)
    assert len(keep_before.audit_entries(action="refusal.held")) == 1


def test_no_refusal_no_detection(keep_before: Vault) -> None:
    call_id, transcript = processed(
        keep_before,
        said(0, 0.1, "this call may be recorded for training"),
        said(1, 1.5, "sure I recorded the show last night"),
    )
    assert detect_and_honour(ctx_of(keep_before), call_id, transcript) is None
    assert keep_before.refusals.list_detections() == []


def test_off_looks_for_nothing(config: Config) -> None:
    for vault in open_vault(config, spoken_refusal="off"):
        call_id, transcript = processed(vault, *REFUSING)
        assert detect_and_honour(ctx_of(vault), call_id, transcript) is None


def test_review_is_for_compliance_only(keep_before: Vault) -> None:
    admin = Context(keep_before.config, keep_before, principal=Principal("root", "admin"))
    with pytest.raises(NotAuthorized, match="the admin role may not refusals.read"):
        list_refusals(admin)
    with pytest.raises(NotAuthorized, match="the admin role may not refusals.write"):
        reverse_refusal(admin, "x", reason="r")


def test_cli_lists_shows_and_reverses(keep_before: Vault) -> None:
    from click.testing import CliRunner

    from callvault.cli import cli

    call_id, transcript = processed(keep_before, *REFUSING)
    original = stored_frames(keep_before, call_id)
    detection = detect_and_honour(ctx_of(keep_before), call_id, transcript)
    assert detection is not None
    env = {
        "CALLVAULT_DATA_DIR": str(keep_before.config.data_dir),
        "CALLVAULT_DATABASE_URL": keep_before.config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
        "CALLVAULT_ROLE": "compliance",
    }
    runner = CliRunner()
    listed = runner.invoke(cli, ["refusals", "list", "--status", "applied", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (shown,) = json.loads(listed.output)["refusals"]
    assert shown["id"] == detection.id and "recorded" in shown["words"]
    assert shown["outcome"] == "cut" and shown["confidence"] >= 0.5
    one = runner.invoke(cli, ["refusals", "show", detection.id], env=env)
    assert one.exit_code == 0 and "words:" in one.output and "recorded" in one.output
    admin = runner.invoke(cli, ["refusals", "list"], env={**env, "CALLVAULT_ROLE": "admin"})
    assert admin.exit_code != 0 and "the admin role may not refusals.read" in admin.output
    back = runner.invoke(
        cli, ["refusals", "reverse", detection.id, "--reason", "false alarm", "--json"], env=env
    )
    assert back.exit_code == 0, back.output
    assert json.loads(back.output)["status"] == "reversed"
    assert np.array_equal(stored_frames(keep_before, call_id), original)
