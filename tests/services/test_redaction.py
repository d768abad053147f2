"""Redaction at processing time: the transcript keeps placeholders, the audio loses the
same spans on the speaker's channel, the original is kept only where the policy says so
and opens only for the compliance role; the insights and the original follow the call's
key through rewrites and erasure.

Speech recognition is replaced here by `ScriptedPipeline`, a stand-in that returns a
fixed transcript, so that word times (what is muted) are known exactly; the real
recogniser on real speech is exercised by the demo test at the end and by
bench/insights.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from _context import as_context
from _scripted_asr import CARD_CALL, EMAIL_CALL, RATE, ScriptedPipeline, store
from _stored import stored_frames
from callvault.analysis import (
    Transcript,
)
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import NotAuthorized, NotFound
from callvault.services import Context, call_document, listen_audio, process_call
from callvault.services._speakers import speakers_by_channel
from callvault.services.insights import analyse
from callvault.vault import Vault


def settings(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def test_card_number_is_cut_from_transcript_and_audio(config: Config, vault: Vault) -> None:
    call_id, data = store(vault)
    before = stored_frames(vault, call_id)
    result = process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    assert result.redactions >= 1 and result.audio_spans >= 1
    assert result.original_kept is False

    doc = call_document(as_context(vault), call_id, purpose="test")
    texts = [u["text"] for u in doc["transcript"]["utterances"]]
    # The answer to "what is your card number" goes whole (asked for), over the card
    # number recognised in it.
    assert texts[1] == "[CREDIT_CARD]"
    assert "4556" not in json.dumps(doc)
    finding, recognised = doc["redactions"]["transcript"]
    assert finding["entity"] == recognised["entity"] == "CREDIT_CARD"
    assert finding["channel"] == recognised["channel"] == 1
    assert (finding["words"], finding["reason"]) == ([0, 6], "asked-for")
    assert (recognised["words"], recognised["reason"]) == ([2, 5], "recognised")
    audio = doc["redactions"]["audio"]
    assert audio["applied"] is True
    assert audio["original"] == {"kept": False, "reason": "policy-never"}

    after = stored_frames(vault, call_id)
    assert after.shape == before.shape
    margin = audio["margin_s"]
    assert margin == config.redaction_margin == 0.5
    first = int((finding["start"] - margin) * RATE)
    last = int(np.ceil((finding["end"] + margin) * RATE))
    assert not after[first:last, 1].any()  # muted on the customer's channel
    assert np.array_equal(after[:, 0], before[:, 0])  # the agent's channel untouched
    assert np.array_equal(after[: first - 1, 1], before[: first - 1, 1])
    assert np.array_equal(after[last + 1 :, 1], before[last + 1 :, 1])

    # The same file again is still a duplicate, though the stored audio changed.
    again = vault.calls.store_call(import_bytes(data, "call.wav", FileImportOptions()))
    assert again.duplicate and again.call_id == call_id
    # The payment card number is never kept: no original to open.
    with pytest.raises(NotFound, match="has no kept original"):
        with vault.artifacts.open_original(call_id, role="compliance", reason="dispute 7"):
            pass
    actions = [e.action for e in vault.audit_entries()]
    assert "recording.redact" in actions and "insights.read" in actions


def test_original_is_kept_unless_payment_and_opens_only_for_compliance(
    config: Config, vault: Vault, tmp_path: Path
) -> None:
    config = settings(config, redaction_keep_original="unless-payment")
    call_id, data = store(vault)
    result = process_call(Context(config, vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    assert result.original_kept is True
    doc = call_document(as_context(vault), call_id, purpose="test")
    assert doc["transcript"]["utterances"][1]["text"] == "[EMAIL]"
    assert doc["redactions"]["audio"]["original"] == {"kept": True, "reason": "policy"}

    with pytest.raises(NotAuthorized, match="compliance role"):
        with vault.artifacts.open_original(call_id, role="manager", reason="curious"):
            pass
    with vault.artifacts.open_original(call_id, role="compliance", reason="complaint 12") as (
        reader,
        info,
    ):
        assert b"".join(reader.iter_chunks()) == data
    assert info.meta["channels"] == 2 and info.sha256 == hashlib.sha256(data).hexdigest()
    entries = [(e.action, e.purpose) for e in vault.audit_entries()]
    assert ("original.read.refused", "curious") in entries
    assert ("original.read", "complaint 12") in entries

    # What a listener gets: the redacted audio as WAV; the original with role and reason.
    out = tmp_path / "heard.wav"
    size, seconds = listen_audio(as_context(vault), call_id, out, role="admin")
    assert seconds == pytest.approx(9.0) and size == out.stat().st_size
    with wave.open(str(out)) as wav:
        heard = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(heard, stored_frames(vault, call_id))
    original = tmp_path / "original.wav"
    listen_audio(
        as_context(vault),
        call_id,
        original,
        original=True,
        reason="complaint 12",
        role="compliance",
    )
    with wave.open(str(original)) as wav:
        raw = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    with wave.open(io.BytesIO(data)) as wav:
        assert np.array_equal(
            raw, np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
        )

    # Processed again: the audio is redacted already and the original stays the same.
    process_call(Context(config, vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    with vault.artifacts.open_original(call_id, role="compliance", reason="complaint 12") as (
        reader,
        _,
    ):
        assert b"".join(reader.iter_chunks()) == data
    assert all(not r.faults for r in vault.calls.verify(call_id))


def test_card_data_under_unless_payment_is_not_kept_but_a_hold_keeps_it(
    config: Config, vault: Vault
) -> None:
    config = settings(config, redaction_keep_original="unless-payment")
    call_id, _ = store(vault)
    result = process_call(Context(config, vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    assert result.original_kept is False
    reason = call_document(as_context(vault), call_id, purpose="t")["redactions"]["audio"][
        "original"
    ]
    assert reason == {"kept": False, "reason": "payment-data"}

    held_id, data = store(vault, seconds=9.5)
    vault.holds.add_hold(call_id=held_id, reason="litigation 4")
    result = process_call(Context(config, vault), held_id, pipeline=ScriptedPipeline(CARD_CALL))
    assert result.original_kept is True
    doc = call_document(as_context(vault), held_id, purpose="t")
    assert doc["redactions"]["audio"]["original"] == {"kept": True, "reason": "legal-hold"}
    with vault.artifacts.open_original(held_id, role="compliance", reason="litigation 4") as (
        reader,
        _,
    ):
        assert b"".join(reader.iter_chunks()) == data


def test_erasure_destroys_insights_and_original(config: Config, vault: Vault) -> None:
    config = settings(config, redaction_keep_original="unless-payment")
    call_id, _ = store(vault)
    process_call(Context(config, vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    assert vault.artifacts.read_insights(call_id) is not None
    with vault.artifacts.open_original(call_id, role="compliance", reason="check"):
        pass  # kept
    certificate = vault.calls.delete_call(call_id, reason="subject request")
    kinds = {blob.kind for blob in certificate.blobs}
    assert {"recording", "transcript", "insights", "original"} <= kinds
    remaining = set(vault.store.iter_keys())
    assert not {blob.key for blob in certificate.blobs} & remaining
    assert vault.collect_garbage(min_age_s=0).orphaned_blobs == ()


def test_a_later_cut_drops_insights_and_the_original(config: Config, vault: Vault) -> None:
    from callvault.media._edit import CutAt
    from callvault.services._rewrite import cut_utterance, rewrite_call

    config = settings(config, redaction_keep_original="unless-payment")
    call_id, _ = store(vault)
    process_call(Context(config, vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    rewrite_call(
        vault, call_id, CutAt(3.0), cut_utterance(3.0), action="consent.cut", reason="withdrawn"
    )
    # What was derived from the whole call, and the whole original, are gone with the key.
    assert vault.artifacts.read_insights(call_id) is None
    with pytest.raises(NotFound, match="has no kept original"):
        vault.artifacts.open_original(call_id, role="compliance", reason="check").__enter__()
    assert call_document(as_context(vault), call_id, purpose="t")["insights"] is None


def test_dtmf_tones_are_cut_on_every_channel_and_count_as_payment_data(
    config: Config, vault: Vault
) -> None:
    config = settings(config, redaction_keep_original="unless-payment")
    call_id, _ = store(vault)
    record = vault.calls.get_call(call_id)
    record = dataclasses.replace(
        record,
        network={"dtmf": [{"channel": 1, "start": 2.0, "duration": 0.12, "source": "rfc4733"}]},
    )
    transcript = Transcript("done", "en", "scripted", "1", EMAIL_CALL, True)
    analysis = analyse(config, record, speakers_by_channel(record), transcript)
    spans = {(s.start, s.channel, why) for s, why in analysis.plan.spans}
    assert (2.0, None, "DTMF") in spans
    assert analysis.plan.keep_original is False
    assert analysis.plan.original_reason == "payment-data"


def test_show_before_processing_has_null_insights(config: Config, vault: Vault) -> None:
    call_id, _ = store(vault)
    doc = call_document(as_context(vault), call_id, purpose="t")
    assert doc["insights"] is None and doc["redactions"] is None


def test_insights_of_a_processed_call(config: Config, vault: Vault) -> None:
    call_id, _ = store(vault)
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    insights = call_document(as_context(vault), call_id, purpose="t")["insights"]
    names = [stage["name"] for stage in insights["stages"]]
    assert names == ["metrics", "sentiment", "keywords", "trackers", "summary", "actions"]
    versions = {stage["name"]: stage["version"] for stage in insights["stages"]}
    assert versions == {
        "metrics": "1",
        "sentiment": "1",
        "keywords": "1",
        "trackers": "4",
        "summary": "1",
        "actions": "1",
    }
    disclosure = insights["trackers"]["compliance"]["checks"][0]
    assert disclosure["name"] == "disclosure" and disclosure["passed"] is True
    (item,) = insights["actions"]["items"]
    assert item["owner"] == "agent" and item["utterances"] == [2]
    assert item["due"] == "2026-03-03T17:00:00+00:00"  # "tomorrow" from the call's start
    speakers = {s["speaker"]: s for s in insights["metrics"]["speakers"]}
    assert set(speakers) == {"alice", "customer"}


def test_audio_command_refuses_the_original_without_the_compliance_role(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {"CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_DATABASE_URL": url}
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["demo"], env=env).stdout)
    call_id = shown["call"]["id"]
    out = tmp_path / "heard.wav"
    listened = runner.invoke(cli, ["audio", call_id, "--out", str(out)], env=env)
    assert listened.exit_code == 0, listened.output
    assert out.stat().st_size > 44
    refused = runner.invoke(
        cli,
        ["audio", call_id, "--out", str(tmp_path / "o.wav"), "--original", "--reason", "x"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "opens only for the compliance role, not for 'admin'" in refused.output
    no_reason = runner.invoke(
        cli,
        ["audio", call_id, "--out", str(tmp_path / "o.wav"), "--original"],
        env={**env, "CALLVAULT_ROLE": "compliance"},
    )
    assert no_reason.exit_code == 2 and "--original needs --reason" in no_reason.output
    # The demo's card number (read aloud) leaves no run of digits in the transcript.
    text = " ".join(u["text"] for u in shown["call"]["transcript"]["utterances"])
    assert not any(
        len(token.strip(",.")) >= 4 and token.strip(",.").isdigit() for token in text.split()
    )
    assert shown["call"]["redactions"]["audio"]["spans"]


def test_migrations_0009_to_0011_down_and_up(config: Config) -> None:
    from alembic import command
    from sqlalchemy import text

    from callvault.vault._db import _alembic_config

    config = settings(config, redaction_keep_original="unless-payment")
    with Vault.open(config) as vault:
        call_id, _ = store(vault)
        process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    with Vault.open(config) as vault:
        engine = vault.engine
        cfg = _alembic_config()
        with engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM calls")).scalars().all() == [call_id]
        with engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    with Vault.open(config) as reopened:
        # The artifacts went with their table; what is left of the call still verifies,
        # and the blobs no row names any more are garbage.
        assert reopened.artifacts.read_insights(call_id) is None
        assert all(r.ok for r in reopened.calls.verify())
        # The insights, the kept original and the scorecard (issue 22).
        assert len(reopened.collect_garbage(min_age_s=0).orphaned_blobs) == 3
