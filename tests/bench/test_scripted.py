"""bench/_scripted.py: the scripts load and validate, a short call is spoken and placed
right, and a second run reuses the files without calling espeak-ng."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
import wave
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

SCRIPTED = Path(__file__).resolve().parents[2] / "bench" / "_scripted.py"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")

DIGITS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())
}


@pytest.fixture(scope="module")
def sc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scripted", SCRIPTED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _spoken_digits(text: str) -> str:
    return "".join(DIGITS[w] for w in text.lower().replace(",", " ").split())


def test_the_shipped_scripts_cover_what_the_benchmark_needs(sc: ModuleType) -> None:
    calls = sc.load_scripts()
    assert 10 <= len(calls) <= 12
    assert sorted(c.language for c in calls).count("de") == 2
    disclosures = [c.disclosure for c in calls]
    assert disclosures.count("late") == 1 and disclosures.count("none") == 1
    labels = [lab for c in calls for line in c.lines for lab in line.labels]
    assert {lab.entity for lab in labels if lab.type == "pii"} == sc.PII_ENTITIES
    assert {lab.tracker for lab in labels if lab.type == "objection"} == sc.TRACKERS
    cards = {_spoken_digits(lab.text) for lab in labels if lab.entity == "CREDIT_CARD"}
    assert cards == {"4111111111111111", "5555555555554444", "378282246310005", "4012888888881881"}
    assert all(_luhn(card) for card in cards)
    ssns = [_spoken_digits(lab.text) for lab in labels if lab.entity == "US_SSN"]
    assert ssns == ["078051120"]
    for call in calls:
        assert call.agent_voice != call.customer_voice
        assert 1 <= sum(1 for line in call.lines if line.overlap) <= 2, call.id


TOML = """\
[[calls]]
id = "tiny"
language = "en"
title = "t"
agent_voice = "en-us+m3"
customer_voice = "en-gb+f2"
speed = 160
started_at = "2026-11-27T10:00:00Z"
disclosure = "none"

[[calls.lines]]
speaker = "agent"
text = "Hello."

[[calls.lines]]
speaker = "customer"
text = "My card is four one one one."
labels = [
  { type = "pii", entity = "%s", text = "%s" },
]
"""


@pytest.mark.parametrize(
    ("entity", "text", "message"),
    [
        (
            "CREDIT_CARD",
            "four two",
            'calls.toml:15 (call "tiny", line 2) label 1: '
            "the label's text is not a substring of the line text",
        ),
        (
            "CARD",
            "four one",
            "calls.toml:15 (call \"tiny\", line 2) label 1: unknown PII entity 'CARD'",
        ),
    ],
)
def test_a_broken_label_names_the_file_line(
    sc: ModuleType, tmp_path: Path, entity: str, text: str, message: str
) -> None:
    path = tmp_path / "calls.toml"
    path.write_text(TOML % (entity, text), encoding="utf-8")
    with pytest.raises(sc.ScriptError) as info:
        sc.load_scripts(path)
    assert str(info.value) == message


def test_the_same_voice_twice_is_refused(sc: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "calls.toml"
    raw = TOML % ("CREDIT_CARD", "four one one one")
    path.write_text(raw.replace("en-gb+f2", "en-us+m3"), encoding="utf-8")
    with pytest.raises(sc.ScriptError, match=r'^calls.toml:1 \(call "tiny"\): the agent and'):
        sc.load_scripts(path)


def test_due_phrases_resolve_from_the_call_day(sc: ModuleType) -> None:
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert sc.resolve_due("tomorrow", friday) == date(2026, 11, 28)
    assert sc.resolve_due("monday", friday) == date(2026, 11, 30)
    assert sc.resolve_due("friday", friday) == date(2026, 12, 4)  # a week on, not today
    assert sc.resolve_due("next week", friday) == date(2026, 11, 30)
    assert sc.resolve_due("end of week", friday) == date(2026, 11, 27)
    assert sc.resolve_due("end of month", friday) is None


def _dbfs(audio: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(max(rms, 1e-10))


@needs_espeak
def test_a_short_call_is_spoken_placed_and_cached(
    sc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calls.toml"
    path.write_text(TOML % ("CREDIT_CARD", "four one one one"), encoding="utf-8")
    (call,) = sc.load_scripts(path)
    result = sc.synthesize(call, tmp_path / "out")
    assert not result.cached

    with wave.open(str(result.wav)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        frames = wav.readframes(wav.getnframes())
    audio = np.frombuffer(frames, "<i2").reshape(-1, 2).T / 32768.0
    agent, customer = result.lines
    assert (agent.channel, customer.channel) == (0, 1)
    assert 0.4 <= customer.start - agent.end <= 0.8  # the deterministic gap

    def cut(channel: int, start: float, end: float) -> np.ndarray:
        return np.asarray(audio[channel, round(start * 16000) : round(end * 16000)])

    assert _dbfs(cut(0, customer.start, customer.end)) < -90  # agent leg silent meanwhile
    assert _dbfs(cut(1, agent.start, agent.end)) < -90
    (label,) = result.labels
    begin, end = label.span
    assert customer.start + 0.3 < begin < end <= customer.end  # "My card is" comes first
    assert end - begin > 0.5
    assert _dbfs(cut(1, begin, end)) > -40

    stored = json.loads(result.json.read_text(encoding="utf-8"))
    assert stored["labels"][0]["span"] == [round(begin, 3), round(end, 3)]
    assert stored["call"]["weekday"] == "friday"

    def no_espeak(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("espeak-ng ran again")

    monkeypatch.setattr(subprocess, "run", no_espeak)
    again = sc.synthesize(call, tmp_path / "out")
    assert again.cached
    assert again.lines == result.lines and again.labels == result.labels
    changed = replace(call, speed=150)  # a changed script is spoken again
    with pytest.raises(AssertionError, match="espeak-ng ran again"):
        sc.synthesize(changed, tmp_path / "out")


_GERMAN_DIGITS = dict(
    zip("null eins zwei drei vier fünf sechs sieben acht neun".split(), "0123456789", strict=True)
)


def _check_held_out(calls: list, labels: list) -> list[str]:  # type: ignore[type-arg]
    """What both held-out sets must cover (issue 16); returns their card numbers."""
    assert sorted(c.language for c in calls).count("de") == 2
    entities = {lab.entity for lab in labels if lab.type == "pii"}
    assert entities >= {"CREDIT_CARD", "CVV", "CARD_EXPIRY", "US_SSN", "DATE_OF_BIRTH"}
    assert entities >= {"EMAIL", "PHONE", "PERSON", "PIN", "PASSWORD"}
    cards = [
        "".join(
            DIGITS.get(w) or _GERMAN_DIGITS[w]
            for w in lab.text.lower().replace(",", " ").replace(".", " ").split()
        )
        for lab in labels
        if lab.entity == "CREDIT_CARD"
    ]
    assert len(cards) >= 3 and all(_luhn(card) for card in cards)
    for call in calls:
        first = call.lines[0]
        assert first.speaker == "agent"
        if call.disclosure == "early":  # the agent's very first sentence
            (disclosure,) = [lab for lab in first.labels if lab.type == "disclosure"]
            assert first.text.startswith(disclosure.text)
    assert all(lab.owner and lab.due for lab in labels if lab.type == "action")
    return cards


def test_the_held_out_telephone_scripts_cover_what_issue_16_asks(sc: ModuleType) -> None:
    calls = sc.load_scripts(sc.TELEPHONE)
    assert 5 <= len(calls) <= 8
    assert not {c.id for c in calls} & {c.id for c in sc.load_scripts()}
    assert all(c.sentiment_start in sc.MOODS and c.sentiment_end in sc.MOODS for c in calls)
    labels = [lab for c in calls for line in c.lines for lab in line.labels]
    _check_held_out(calls, labels)
    assert any(lab.type == "competitor" for lab in labels)


def test_the_second_held_out_scripts_cover_the_same_ground(sc: ModuleType) -> None:
    calls = sc.load_scripts(sc.HOLDOUT)
    assert len(calls) == 6
    others = {c.id for path in (sc.DEFAULT, sc.TELEPHONE) for c in sc.load_scripts(path)}
    assert not {c.id for c in calls} & others  # the synthesised files share a folder
    assert [c.disclosure for c in calls].count("none") == 1
    assert all(c.sentiment_start in sc.MOODS and c.sentiment_end in sc.MOODS for c in calls)
    moods = {(c.sentiment_start, c.sentiment_end) for c in calls}
    assert {("negative", "positive"), ("neutral", "negative")} <= moods
    labels = [lab for c in calls for line in c.lines for lab in line.labels]
    cards = _check_held_out(calls, labels)
    assert all(len(card) == 16 for card in cards)
    named = {c.id for c in calls for line in c.lines for lab in line.labels if lab.name}
    assert len(named) == 2  # a competitor in two calls


def test_moods_are_checked_and_left_out_of_older_scripts_hashes(
    sc: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "calls.toml"
    raw = TOML % ("CREDIT_CARD", "four one one one")
    path.write_text(
        raw.replace('disclosure = "none"\n', 'disclosure = "none"\nsentiment_end = "angry"\n')
    )
    with pytest.raises(sc.ScriptError, match=r"sentiment_end must be one of"):
        sc.load_scripts(path)
    path.write_text(raw, encoding="utf-8")
    (call,) = sc.load_scripts(path)
    assert "sentiment_start" not in call.to_json() and call.sentiment_end is None
