"""The callbacks live capture and the SIPREC server store calls through (SQLite, PG)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callvault.capture.live import LegPause, OptOutRules
from callvault.capture.net import NetworkCall, Party, read_captures
from callvault.config import Config
from callvault.services.capture import policy_numbers
from callvault.services.network import NetworkRecorder
from callvault.vault import Vault

DTMF = Path("/work/shared/eval-data/voip_pcap/wireshark_samples/SIP_DTMF2.pcap")
AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def a_call() -> NetworkCall:
    (call,) = [c for c in read_captures([DTMF]).calls if any(len(leg.pcm) for leg in c.legs)]
    return call


def test_decide_at_the_invite(config: Config) -> None:
    with NetworkRecorder(config, source="live", consent="pre-call-notice") as recorder:
        assert recorder.decide("+14155550100", "+14155550199", AT)
        assert not recorder.decide("+14155550100", "911", AT)  # emergency: never recorded
    with NetworkRecorder(config, source="live") as recorder:
        # Germany: every party must consent, and nobody said they did.
        assert not recorder.decide("+493012345678", "+498912345678", AT)
        assert recorder.decide("+12125550100", "+12125550199", AT)  # New York: one party


def test_a_finished_call_is_stored_with_its_source(config: Config) -> None:
    with NetworkRecorder(config, source="siprec", consent="verbal") as recorder:
        report = recorder.record(a_call())
    assert report.outcome == "stored" and report.stored is not None
    with Vault.open(config) as vault:
        record = vault.calls.get_call(report.stored.call_id)
    assert record.source == "siprec" and record.network is not None
    assert record.network["segment"] is None


def test_segments_are_numbered(config: Config) -> None:
    call = a_call()
    with NetworkRecorder(config, source="live", consent="verbal") as recorder:
        first = recorder.record(call, segment=0)
        leg = call.legs[0]
        shorter = dataclasses.replace(leg, pcm=leg.pcm[: len(leg.pcm) // 2])
        second = recorder.record(dataclasses.replace(call, legs=(shorter,)), segment=1)
    assert first.stored is not None and second.stored is not None
    with Vault.open(config) as vault:
        assert vault.calls.get_call(first.stored.call_id).network["segment"] == 0  # type: ignore[index]
        assert vault.calls.get_call(second.stored.call_id).network["segment"] == 1  # type: ignore[index]


def test_withdrawal_discards_the_call_and_its_earlier_segments(config: Config) -> None:
    call = a_call()
    with NetworkRecorder(config, source="live", consent="verbal") as recorder:
        first = recorder.record(call, segment=0)
        assert first.outcome == "stored"
        recorder.withdrawn(call.call_id, 1, 12.5)
        later = recorder.record(call, segment=1, withdrawn_at=12.5)
    assert later.outcome == "discarded"
    with Vault.open(config) as vault:
        assert vault.calls.list_calls() == []
        (entry,) = vault.audit_entries(action="capture.withdrawal")
        assert entry.details == {
            "channel": 1,
            "at_seconds": 12.5,
            "mode": "discard-call",
            "by": "dtmf",
        }
        assert call.call_id not in str(entry.to_dict())  # the Call-ID only as a digest
        assert vault.audit_entries(action="call.erase")


def test_keep_before_stores_what_came_before(config: Config) -> None:
    keep = dataclasses.replace(config, on_withdrawal="keep-before")
    with NetworkRecorder(keep, source="live", consent="verbal") as recorder:
        recorder.withdrawn(a_call().call_id, 0, 3.0)
        report = recorder.record(a_call(), withdrawn_at=3.0)
    assert report.outcome == "stored"


def test_a_refused_call_is_reported_not_raised(config: Config) -> None:
    with NetworkRecorder(config, source="live") as recorder:
        report = recorder.record(a_call())  # numbers unknown: strictest rule, no consent
    assert report.outcome == "refused" and report.reason


def test_a_call_to_an_emergency_number_is_never_stored(config: Config) -> None:
    """A short number is not E.164 and is not stored as a participant's phone, but the
    emergency deny-list must still see it: 112 and 911 calls are never recorded."""
    call = dataclasses.replace(a_call(), callee=Party(user="112"))
    assert policy_numbers(call)[-1] == "112"
    with NetworkRecorder(config, source="live", consent="verbal") as recorder:
        report = recorder.record(call)
    assert report.outcome == "refused" and "deny.emergency" in (report.reason or "")
    with Vault.open(config) as vault:
        assert vault.calls.list_calls() == []


def test_a_spoken_refusal_is_audited_with_its_confidence(config: Config) -> None:
    call = a_call()
    with NetworkRecorder(config, source="live", consent="verbal") as recorder:
        recorder.withdrawn(call.call_id, 0, 7.25, by="speech", confidence=0.8766)
        report = recorder.record(call, withdrawn_at=7.25)
    assert report.outcome == "discarded"
    with Vault.open(config) as vault:
        (entry,) = vault.audit_entries(action="capture.withdrawal")
        assert entry.details == {
            "channel": 0,
            "at_seconds": 7.25,
            "mode": "discard-call",
            "by": "speech",
            "confidence": 0.877,
        }


def test_pci_pauses_are_audited_with_times_only(config: Config) -> None:
    call = a_call()
    pauses = (LegPause(0, 21.5, 30.25), LegPause(1, 40.0))
    with NetworkRecorder(config, source="live", consent="verbal") as recorder:
        report = recorder.record(call, segment=2, pauses=pauses)
    assert report.stored is not None
    with Vault.open(config) as vault:
        entries = vault.audit_entries(action="capture.pci-pause")
        assert {e.object_id for e in entries} == {report.stored.call_id}
        assert sorted((e.details for e in entries), key=str) == [
            {"channel": 0, "from_seconds": 21.5, "to_seconds": 30.25, "segment": 2},
            {"channel": 1, "from_seconds": 40.0, "to_seconds": None, "segment": 2},
        ]


def test_optout_rules_come_from_the_settings_and_the_direction(config: Config) -> None:
    with NetworkRecorder(config, source="live") as recorder:
        assert recorder.optout_rules("9") == OptOutRules("9", 30.0, 0.0, 2.0, 1)
        assert recorder.optout_rules("5", agent_side="caller", window_s=10.0).agent_channel == 0
    tuned = dataclasses.replace(
        config, dtmf_optout_window=12.0, notice_seconds=4.0, dtmf_inter_digit=1.5
    )
    with NetworkRecorder(tuned, source="live", direction="outbound") as recorder:
        assert recorder.optout_rules("9") == OptOutRules("9", 12.0, 4.0, 1.5, 0)
    with NetworkRecorder(dataclasses.replace(config, agent_side="caller"), source="live") as rec:
        assert rec.optout_rules("9").agent_channel == 0
        with pytest.raises(ValueError, match="withdraw digit 'x' is not a DTMF key"):
            rec.optout_rules("x")
