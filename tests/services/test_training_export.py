"""The de-identified training export (issue 22): no digits, names or call ids in what
is written, a data sheet whose counts match the files, and the calls that may not be
used (restricted, no consent to training) left out and counted."""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from _context import as_context
from _teamdata import insights_doc, store_analysed, store_call, utterance
from callvault.errors import InputError, NotAuthorized
from callvault.services import export_training
from callvault.services.access import Principal
from callvault.services.voice import anonymized_audio
from callvault.vault import Vault

CUSTOMER = "+14155550100"
AGENT_LINE = "+442071838750"


def consent_training(vault: Vault, call_id: str) -> None:
    for party in (CUSTOMER, AGENT_LINE):
        vault.consent.record_consent(party, method="verbal", scopes=["training"], call_id=call_id)


def talk(agent: str) -> list:  # type: ignore[type-arg]
    return [
        utterance(agent, 0, 0.0, f"hello this is {agent.title()} from support"),
        utterance("customer", 1, 3.0, "hi my number is 415 555 0100 and my account is 88231"),
        utterance(agent, 0, 7.0, f"thanks I have noted four one five five ask for {agent}"),
        utterance("customer", 1, 10.0, "my card is [CREDIT_CARD] thank you"),
    ]


@pytest.fixture
def calls(vault: Vault) -> dict[str, str]:
    made = {}
    for name, seed, caller in (("ok", 1, CUSTOMER), ("noconsent", 2, CUSTOMER),
                               ("restricted", 3, "+14155550177")):  # fmt: skip
        call_id = store_call(vault, "alice", seed, caller=caller)
        store_analysed(vault, call_id, talk("alice"), insights_doc("alice"))
        made[name] = call_id
    consent_training(vault, made["ok"])
    for party in ("+14155550177", AGENT_LINE):
        vault.consent.record_consent(
            party, method="verbal", scopes=["training"], call_id=made["restricted"]
        )
    vault.restrictions.restrict("+14155550177", "objects to processing")
    return made


def every_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file()
                     and p.suffix != ".wav")  # fmt: skip


def test_export_is_de_identified_and_its_datasheet_adds_up(
    vault: Vault, calls: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "training"
    result = export_training(as_context(vault), out, with_audio=False, purpose="asr tuning")
    assert result.calls == 1 and result.utterances == 4
    assert result.skipped == {"no-training-consent": 1, "restricted": 1}
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files[:3] == ["DATASHEET.md", "calls.jsonl", "datasheet.json"]
    [transcript] = list((out / "transcripts").iterdir())
    lines = [json.loads(x) for x in transcript.read_text().splitlines()]
    assert [x["role"] for x in lines] == ["agent", "customer", "agent", "customer"]
    assert lines[1]["start"] == 3.0
    texts = " ".join(x["text"] for x in lines)
    assert not re.search(r"\d", texts)
    assert "alice" not in texts.lower() and "[PERSON]" in texts
    assert "four one five" not in texts and "[NUMBER]" in texts
    everything = every_text(out)
    for call_id in calls.values():
        assert call_id not in everything
    assert "alice" not in everything.lower()
    assert "09:30" not in everything  # the time of day is dropped, the day kept
    [entry] = [json.loads(x) for x in (out / "calls.jsonl").read_text().splitlines()]
    assert entry["day"] == "2026-03-02" and transcript.stem == entry["id"]
    sheet = json.loads((out / "datasheet.json").read_text())
    shown = Counter_of(texts)
    assert sheet["removed"]["entities"] == shown  # the counts match the files
    # The card was cut at processing; the phone number and the name are found again by
    # the detector; the account number and the spoken digits are dropped as numbers.
    assert shown["CREDIT_CARD"] == 1 and shown["NUMBER"] >= 2
    assert shown.get("PHONE", 0) + shown["NUMBER"] >= 3
    assert sheet["removed"]["numbers_replaced"] == result.numbers_dropped >= 2
    assert sheet["removed"]["names_replaced"] == result.names_dropped
    assert shown["PERSON"] == result.names_dropped + result.detected_at_export.get("PERSON", 0)
    assert sheet["removed"]["entities_detected_again_at_export"] == result.detected_at_export
    assert sheet["skipped"]["counts"] == {"no-training-consent": 1, "restricted": 1}
    assert sheet["removed"]["voices"] == "audio omitted"
    assert sheet["privacy_settings"]["team_min_group"] == 5
    markdown = (out / "DATASHEET.md").read_text()
    assert "| restricted | 1 |" in markdown and "| no-training-consent | 1 |" in markdown
    events = [e for e in vault.audit_entries() if e.action == "training.export"]
    assert len(events) == 1 and events[0].details["calls"] == [calls["ok"]]
    assert oct(out.stat().st_mode & 0o777) == "0o700"


def Counter_of(text: str) -> dict[str, int]:  # noqa: N802 - reads like the Counter it is
    found: dict[str, int] = {}
    for tag in re.findall(r"\[([A-Z][A-Z_]*)\]", text):
        found[tag] = found.get(tag, 0) + 1
    return dict(sorted(found.items()))


def test_audio_is_the_anonymised_voice(vault: Vault, calls: dict[str, str], tmp_path: Path) -> None:
    ctx = as_context(vault)
    out = tmp_path / "with-audio"
    result = export_training(ctx, out, with_audio=True, purpose="voice model")
    assert result.audio
    [wav] = list((out / "audio").iterdir())
    with wave.open(str(wav)) as read:
        channels, rate = read.getnchannels(), read.getframerate()
        exported = np.frombuffer(read.readframes(read.getnframes()), dtype=np.int16)
    # The voice anonymiser's own output for the call, written as 16-bit PCM: every voice
    # changed, nothing else (the stand-in of an earlier version is gone).
    samples, expected_rate = anonymized_audio(ctx, calls["ok"], speaker_role=None, purpose="check")
    assert (channels, rate) == (samples.shape[0], expected_rate)
    expected = (np.clip(samples.T, -1.0, 1.0) * 32767.0).round().astype(np.int16).reshape(-1)
    assert exported.size == expected.size
    assert np.abs(exported.astype(np.int32) - expected.astype(np.int32)).max() <= 1
    sheet = json.loads((out / "datasheet.json").read_text())
    assert sheet["removed"]["voices"].startswith("anonymised")


def test_refusals(vault: Vault, calls: dict[str, str], tmp_path: Path) -> None:
    ctx = as_context(vault)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(InputError, match="already exists and is not an empty directory"):
        export_training(ctx, busy, purpose="t")
    with pytest.raises(InputError, match="is inside the data directory"):
        export_training(ctx, vault.config.data_dir / "out", purpose="t")
    with pytest.raises(InputError, match="needs a purpose"):
        export_training(ctx, tmp_path / "a", purpose=" ")
    rep = ctx.acting_as(Principal("alice", "rep", "east"))
    with pytest.raises(NotAuthorized, match="the rep role may not training.export"):
        export_training(rep, tmp_path / "b", purpose="t")
    # An empty directory is fine, and nothing is left beside it after a refusal.
    empty = tmp_path / "empty"
    empty.mkdir()
    export_training(ctx, empty, purpose="t")
    assert (empty / "datasheet.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
