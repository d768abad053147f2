"""Calls from capture files into the vault through the policy gate (SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callvault.cli import cli
from callvault.config import Config
from callvault.errors import CaptureError
from callvault.services import open_context
from callvault.services.capture import record_pcaps
from callvault.vault import Vault

PCAPS = Path("/work/shared/eval-data/voip_pcap")
DTMF = PCAPS / "wireshark_samples" / "SIP_DTMF2.pcap"  # one call, digits 6789123
CANCEL = PCAPS / "pkts" / "cancel.pcap"  # a cancelled call: no audio


def test_a_call_with_consent_is_stored_with_what_the_network_said(config: Config) -> None:
    with open_context(config) as ctx:
        report = record_pcaps(ctx, [DTMF, CANCEL], consent="verbal")
    outcomes = sorted(r.outcome for r in report.calls)
    assert outcomes.count("stored") == 1 and "no-audio" in outcomes
    (stored,) = [r for r in report.calls if r.outcome == "stored"]
    assert stored.stored is not None and stored.stored.job_id
    with Vault.open(config) as vault:
        record = vault.calls.get_call(stored.stored.call_id)
    document = record.to_json()
    assert document["source"] == "pcap"
    network = document["network"]
    assert network["sip_call_id"] == stored.network.call_id
    assert len(network["dtmf"]) == 7
    # Spans are in seconds of the stored audio, inside it; the digits are not kept.
    seconds = record.recording.frames / record.recording.sample_rate
    assert all(0 <= span["start"] < seconds for span in network["dtmf"])
    assert "6789123" not in json.dumps(document)
    assert "digit" not in json.dumps(network)
    caller = document["legs"][0]
    assert caller["codec"] == "PCMA"
    assert 1 <= caller["quality"]["mos"] <= 4.5
    assert caller["quality"]["packets_received"] == stored.network.legs[0].quality.packets_received  # type: ignore[union-attr]


def test_each_call_passes_the_gate_on_its_own(config: Config) -> None:
    # The parties' numbers are not E.164: unknown jurisdiction, the strictest rule.
    with open_context(config) as ctx:
        report = record_pcaps(ctx, [DTMF])
    assert [r.outcome for r in report.calls if r.network.legs and r.outcome != "no-audio"] == [
        "refused"
    ]
    refused = next(r for r in report.calls if r.outcome == "refused")
    assert refused.reason and "consent of every party" in refused.reason
    with Vault.open(config) as vault:
        assert vault.calls.list_calls() == []
    quarantine = dataclasses.replace(config, consent_missing="quarantine")
    with open_context(quarantine) as ctx:
        report = record_pcaps(ctx, [DTMF])
    (kept,) = [r for r in report.calls if r.outcome == "stored"]
    assert kept.stored is not None
    assert (kept.stored.consent_state, kept.stored.job_id) == ("quarantined", None)


def test_a_missing_file_is_an_error(config: Config, tmp_path: Path) -> None:
    with open_context(config) as ctx, pytest.raises(CaptureError, match="no such capture"):
        record_pcaps(ctx, [tmp_path / "nope.pcap"])


def test_capture_pcap_cli_json(config: Config) -> None:
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
    }
    result = CliRunner().invoke(
        cli, ["capture", "pcap", "--consent", "verbal", "--json", str(DTMF)], env=env
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    stored = [c for c in document["calls"] if c["outcome"] == "stored"]
    assert len(stored) == 1 and stored[0]["dtmf_events"] == 7
    assert stored[0]["legs"][0]["codec"] == "PCMA"
    assert document["stats"]["rtp_packets"] > 1000
    text = CliRunner().invoke(cli, ["capture", "pcap", str(DTMF)], env=env)
    assert text.exit_code == 0
    assert "0 of" in text.stdout and "refused" in text.stderr
