"""`callvault monitor replay` through click's CliRunner with the real tiny.en model
(issue 20): one JSON object per event and line, the terminal's lines with the alert and
the summary, several files as concurrent calls, and bad input answered by one line on
stderr and the input-error exit code."""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from callvault.cli import cli

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
STEREO = EVAL / "asr" / "en" / "stereo_diarization.wav"
OSR = EVAL / "asr" / "en" / "OSR_us_000_0034_8k.wav"
KEYS = {"event", "call_time", "delay_s", "channel", "speaker", "text", "rule", "confidence"}
RULES = '[rules.storm]\nkind = "phrase"\nrole = "any"\nphrases = ["severe storm"]\n'


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"eval data missing: {path} (set CALLVAULT_EVAL_DATA)")
    return path


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": "",
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, prog_name="callvault")

    return invoke


def _storm_clip(tmp_path: Path) -> Path:
    """OSR's "A severe storm tore down the barn." alone (24 s to 29.5 s), mono 8 kHz."""
    with wave.open(str(_need(OSR))) as source:
        pcm = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    path = tmp_path / "storm.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm[24 * 8000 : int(29.5 * 8000)].tobytes())
    return path


def test_help_says_what_replay_does(run) -> None:  # type: ignore[no-untyped-def]
    result = run("monitor", "replay", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Usage: callvault monitor replay [OPTIONS] FILES..." in text
    for option in ("--realtime", "--channels ROLE,ROLE", "--language TAG", "--rules", "--live"):
        assert option in text
    assert "--json One JSON object per line per event." in text
    assert "Several FILES replay at once, as concurrent calls." in text
    group = run("monitor", "--help")
    assert group.exit_code == 0 and "replay" in group.output


@pytest.mark.slow
def test_json_gives_one_parseable_event_per_line(run) -> None:  # type: ignore[no-untyped-def]
    result = run("monitor", "replay", str(_need(STEREO)), "--json", "--language", "en")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines
    events = [json.loads(line) for line in lines]
    assert all(KEYS <= set(e) and "call" not in e for e in events)
    finals = [e for e in events if e["event"] == "final"]
    assert {(e["channel"], e["speaker"]) for e in finals} == {(0, "agent"), (1, "customer")}
    said = " ".join(e["text"] for e in finals if e["channel"] == 1).lower()
    assert "horizon" in said and "distant" in said
    assert all(w.keys() == {"start", "end", "text", "confidence"} for w in finals[0]["words"])


@pytest.mark.slow
def test_terminal_lines_show_the_alert_and_a_summary(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES, encoding="utf-8")

    result = run(
        "monitor", "replay", str(_storm_clip(tmp_path)), "--rules", str(rules), "--language", "en"
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (alert,) = [line for line in lines if "ALERT storm" in line]
    assert alert.split()[2:] == ["speaker:", "ALERT", "storm", "(1.00)", "severe", "storm"]
    assert float(alert.split()[0].rstrip("s")) == pytest.approx(2.6, abs=0.5)
    summary = json.loads(result.stdout[result.stdout.index("\n{") :])
    assert summary["calls"] == 1 and summary["alerts"]["storm"] == 1
    assert summary["seconds"] == pytest.approx(5.5, abs=0.05)
    assert not any('"event"' in line for line in lines)  # no JSON events without --json


@pytest.mark.slow
def test_several_files_replay_as_named_concurrent_calls(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stereo = str(_need(STEREO))

    result = run("monitor", "replay", stereo, stereo, "--json", "--language", "en")

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    names = {"stereo_diarization.wav", "stereo_diarization.wav#2"}
    assert {e["call"] for e in events} == names
    for name in names:  # each copy is a whole call: both legs' last words included
        said = " ".join(e["text"] for e in events if e["call"] == name and e["event"] == "final")
        assert "curtain" in said.lower() and "distant" in said.lower(), said


def test_bad_input_is_one_line_and_the_input_exit_code(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = run("monitor", "replay", str(tmp_path / "nowhere.wav"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio at all\n" * 20, encoding="utf-8")
    result = run("monitor", "replay", str(notes))
    assert result.exit_code == 2
    assert result.stderr == "error: notes.txt: not a recognised audio file or pcap\n"
    assert result.stdout == ""
    few = run("monitor", "replay", str(_need(STEREO)), "--channels", "agent")
    assert few.exit_code == 2
    assert few.stderr == (
        "error: --channels names 1 role(s) but the recording has 2 channels; "
        "name one per channel, e.g. agent,customer\n"
    )
