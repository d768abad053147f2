from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from _audio import tone, wav_bytes
from _scripted_asr import AGENT_NUMBER, CUSTOMER_NUMBER, RATE, ScriptedPipeline, said
from callvault.capture import FileImportOptions
from callvault.config import Config
from callvault.services import ingest_files, open_context, process_call
from callvault.services._speakers import Speaker, speakers_by_channel
from callvault.vault import CallRecord, LegRecord, ParticipantRecord, RecordingRecord, Vault

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def call(direction: str | None, parties: list[ParticipantRecord], legs: list[LegRecord]):  # type: ignore[no-untyped-def]
    recording = RecordingRecord(
        "r", "s", 1, "wav", "pcm_s16le", 8000, 2, 8000, "c", 4096, "k", "ed", NOW
    )
    return CallRecord(
        "c", direction, "alice", NOW, "en", NOW, tuple(parties), tuple(legs), recording
    )


def test_inbound_agent_and_customer() -> None:
    parties = [
        ParticipantRecord("p1", 0, "caller", "+14155550100", None, False),
        ParticipantRecord("p2", 1, "callee", "+442071838750", "alice", True),
    ]
    legs = [LegRecord("l1", 0, "p1"), LegRecord("l2", 1, "p2")]
    assert speakers_by_channel(call("inbound", parties, legs)) == {
        0: Speaker("customer", "customer"),
        1: Speaker("alice", "agent"),
    }


def test_no_agent_uses_numbers_then_roles() -> None:
    parties = [
        ParticipantRecord("p1", 0, "caller", "+14155550100", None, False),
        ParticipantRecord("p2", 1, "callee", None, None, False),
        ParticipantRecord("p3", 2, "speaker", None, None, False),
    ]
    legs = [LegRecord("l1", 0, "p1"), LegRecord("l2", 1, "p2"), LegRecord("l3", 2, "p3")]
    assert speakers_by_channel(call(None, parties, legs)) == {
        0: Speaker("+14155550100", "caller"),
        1: Speaker("callee", "callee"),
        2: Speaker("speaker", "speaker"),
    }


def test_mono_leg_maps_to_nobody() -> None:
    parties = [ParticipantRecord("p1", 0, "caller", None, None, False)]
    assert speakers_by_channel(call(None, parties, [LegRecord("l1", 0, None)])) == {}


# -- through ingest and processing (issue 16: --channels), on SQLite and PostgreSQL -------


def ingest_inbound(config: Config, tmp_path: Path, channels: str | None) -> str:
    path = tmp_path / "inbound.wav"
    path.write_bytes(wav_bytes(tone(4.0, RATE, 2, seed=16), RATE))
    options = FileImportOptions(
        caller=CUSTOMER_NUMBER,
        callee=AGENT_NUMBER,
        direction="inbound",
        agent="alice",
        language="en",
        channels=channels,
    )
    with open_context(config) as ctx:
        (stored,) = ingest_files(ctx, [path], options, consent="pre-call-notice")
    return stored.call_id


def test_inbound_call_with_the_agent_on_channel_0(config: Config, tmp_path: Path) -> None:
    call_id = ingest_inbound(config, tmp_path, "agent,customer")
    with Vault.open(config) as vault:
        record = vault.calls.get_call(call_id)
    assert record.direction == "inbound"  # the direction stays what was said
    assert speakers_by_channel(record) == {
        0: Speaker("alice", "agent"),
        1: Speaker("customer", "customer"),
    }
    pipeline = ScriptedPipeline(
        (said("alice", 0, 0.2, "thank you for calling"), said("customer", 1, 2.0, "hello"))
    )
    with open_context(config) as ctx:
        process_call(ctx, call_id, pipeline=pipeline)
    assert pipeline.labels == {0: "alice", 1: "customer"}
    with Vault.open(config) as vault:
        document = json.loads(vault.transcripts.read_transcript(call_id) or b"")
    assert [(u["channel"], u["speaker"]) for u in document["utterances"]] == [
        (0, "alice"),
        (1, "customer"),
    ]


def test_inbound_call_without_channels_is_as_before(config: Config, tmp_path: Path) -> None:
    call_id = ingest_inbound(config, tmp_path, None)
    with Vault.open(config) as vault:
        record = vault.calls.get_call(call_id)
    assert speakers_by_channel(record) == {
        0: Speaker("customer", "customer"),
        1: Speaker("alice", "agent"),
    }
