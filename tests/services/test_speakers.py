from __future__ import annotations

from datetime import UTC, datetime

from callvault.services._speakers import Speaker, speakers_by_channel
from callvault.vault import CallRecord, LegRecord, ParticipantRecord, RecordingRecord

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
