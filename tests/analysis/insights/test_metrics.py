"""The metrics stage on hand-built transcripts with known timings."""

from __future__ import annotations

import json

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._metrics import (
    STAMP,
    Interruption,
    MetricsParams,
    Monologue,
    is_question,
    run,
)
from callvault.analysis.insights._records import CallFacts


def utt(speaker: str, start: float, end: float, text: str, channel: int | None = 0) -> Utterance:
    """An utterance whose words split [start, end] evenly, back to back."""
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(
        Word(start + i * step, start + (i + 1) * step, token, 0.9) for i, token in enumerate(tokens)
    )
    return Utterance(speaker, channel, start, end, text, 0.9, words)


def transcript(*utterances: Utterance, diarized: bool = True, language: str = "en") -> Transcript:
    return Transcript("done", language, "test", "1", tuple(utterances), diarized)


CALL = transcript(
    utt("A", 0, 10, "Hello, thanks for calling. How can I help you today?", 0),
    utt("B", 11, 20, "Um my internet is down and I mean it has been down all week.", 1),
    utt("A", 19, 25, "I see. Let me check that for you.", 0),  # talks over B by 1 s
    utt("A", 26, 30, "Okay, I found the problem.", 0),
    utt("B", 33, 40, "can you fix it today", 1),
    utt("A", 40.2, 50, "Yes, it is fixed now.", 0),
    utt("B", 49.8, 52, "great thanks", 1),  # A goes on 0.2 s only: no interruption
)
FACTS = CallFacts(duration=60.0, roles={"A": "agent", "B": "customer"})


def test_call_level_numbers() -> None:
    result = run(CALL, FACTS)
    assert result.duration == 60.0
    assert result.total_talk == pytest.approx(48.0)
    assert result.overlap == pytest.approx(1.2)
    assert result.silence_share == pytest.approx((60 - 46.8) / 60)
    assert result.interactivity == pytest.approx(5.0)
    assert result.speaker_count == 2
    assert result.confidence == 1.0
    assert result.utterances == (0, 1, 2, 3, 4, 5, 6)
    assert result.stamp == STAMP


def test_talk_time_share_and_ratio() -> None:
    result = run(CALL, FACTS)
    a, b = result.speaker("A"), result.speaker("B")
    assert (a.role, b.role) == ("agent", "customer")
    assert a.talk_time == pytest.approx(29.8)
    assert b.talk_time == pytest.approx(18.2)
    assert a.talk_share == pytest.approx(29.8 / 48)
    assert a.talk_to_listen == pytest.approx(29.8 / 18.2)
    assert b.talk_to_listen == pytest.approx(18.2 / 29.8)
    assert a.utterances == (0, 2, 3, 5)


def test_longest_monologue_joins_short_pauses() -> None:
    result = run(CALL, FACTS)
    assert result.speaker("A").longest_monologue == Monologue(11.0, 19.0, (2, 3))
    assert result.speaker("B").longest_monologue == Monologue(9.0, 11.0, (1,))
    strict = run(CALL, FACTS, MetricsParams(monologue_max_pause=0.5))
    assert strict.speaker("A").longest_monologue == Monologue(10.0, 0.0, (0,))


def test_patience_counts_only_gaps_from_zero_to_ten_seconds() -> None:
    result = run(CALL, FACTS)
    assert result.speaker("B").patience == pytest.approx(2.0)  # gaps 1 and 3; -0.2 left out
    assert result.speaker("A").patience == pytest.approx(0.2)  # gap 0.2; -1 left out


def test_interruptions() -> None:
    result = run(CALL, FACTS)
    assert result.speaker("A").interruptions == (Interruption(19.0, "B", 2, 1),)
    assert result.speaker("B").interruptions == ()
    lenient = run(CALL, FACTS, MetricsParams(interrupt_min_remaining=0.1))
    assert [i.utterance for i in lenient.speaker("B").interruptions] == [6]


def test_words_fillers_and_questions() -> None:
    result = run(CALL, FACTS)
    a, b = result.speaker("A"), result.speaker("B")
    assert a.words == 28
    assert a.words_per_minute == pytest.approx(28 / (29.8 / 60))
    assert (a.fillers, b.fillers) == (0, 2)  # "Um", "I mean"
    assert b.fillers_per_minute == pytest.approx(2 / (18.2 / 60))
    assert (a.questions, b.questions) == (1, 1)  # "...today?" and unpunctuated "can you..."
    assert a.question_rate == pytest.approx(1.0)


def test_to_json_is_plain_and_rounded() -> None:
    data = run(CALL, FACTS).to_json()
    assert json.loads(json.dumps(data)) == data
    speaker = data["speakers"][0]
    assert speaker["talk_share"] == 0.621
    assert speaker["interruption_count"] == 1
    assert speaker["longest_monologue"] == {"duration": 11.0, "start": 19.0, "utterances": [2, 3]}
    assert data["silence_share"] == 0.22
    assert data["stamp"]["name"] == "metrics"


def test_overlapping_words_are_not_counted_twice() -> None:
    words = (Word(0.0, 1.0, "one", 0.9), Word(0.5, 1.5, "two", 0.9))
    utterance = Utterance("A", None, 0.0, 1.5, "one two", 0.9, words)
    result = run(transcript(utterance), CallFacts(duration=2.0))
    assert result.speaker("A").talk_time == pytest.approx(1.5)
    assert result.speaker("A").talk_to_listen is None


def test_utterance_span_is_used_without_words() -> None:
    utterance = Utterance("A", None, 2.0, 5.0, "no words here", 0.9, ())
    result = run(transcript(utterance), CallFacts(duration=10.0))
    assert result.speaker("A").talk_time == 3.0
    assert result.speaker("A").words == 3


def test_confidence_depends_on_how_speakers_were_separated() -> None:
    mono = transcript(utt("A", 0, 1, "hi", None), utt("B", 1, 2, "hello", None))
    assert run(mono, CallFacts(duration=2.0)).confidence == 0.7
    single = transcript(utt("speaker 1", 0, 1, "hi", None), diarized=False)
    assert run(single, CallFacts(duration=2.0)).confidence == 0.3


def test_german_fillers_and_questions() -> None:
    call = transcript(
        utt("A", 0, 4, "Ähm, das ist halt sozusagen teuer.", 0),
        utt("B", 4, 6, "Können Sie mir helfen", 1),
        language="de",
    )
    result = run(call, CallFacts(duration=6.0))
    assert result.speaker("A").fillers == 3
    assert result.speaker("B").questions == 1
    assert result.speaker("A").questions == 0


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("what time is it", "en", True),
        ("do you have my number", "en", True),
        ("Do it now.", "en", False),
        ("it is fine", "en", False),
        ("wie geht es Ihnen", "de", True),
        ("Haben Sie die Rechnung", "de", True),
        ("Ich habe ein Problem", "de", False),
        ("Geht das?", "fr", True),
        ("que pasa", "es", False),
    ],
)
def test_is_question(text: str, language: str, expected: bool) -> None:
    assert is_question(text, language) is expected


def test_empty_transcript_gives_zeros() -> None:
    empty = Transcript("no_speech", None, "test", "1", (), False)
    result = run(empty, CallFacts(duration=0.0))
    assert (result.duration, result.total_talk, result.overlap) == (0.0, 0.0, 0.0)
    assert (result.silence_share, result.interactivity, result.speaker_count) == (0.0, 0.0, 0)
    assert result.speakers == ()
    assert result.to_json()["utterances"] == []
    silent = run(empty, CallFacts(duration=30.0))
    assert silent.silence_share == 1.0
