from __future__ import annotations

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._records import CallFacts
from callvault.analysis.insights._summary import (
    SummaryParams,
    run,
    sentences_of,
    topics_line,
)
from callvault.errors import ConfigError

FACTS = CallFacts(duration=60.0)


def utt(speaker: str, start: float, text: str, step: float = 0.5) -> Utterance:
    """An utterance whose words start every `step` seconds from `start`."""
    words = tuple(
        Word(start + i * step, start + i * step + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + step * len(words), text, 0.9, words)


def call(*utterances: Utterance) -> Transcript:
    return Transcript("done", "en", "test", "1", utterances, True)


BILLING = call(
    utt("A", 0.0, "Hi, thanks for joining. Okay."),
    utt(
        "B",
        3.0,
        "We need a new billing system for our clinics. The current billing system loses invoices.",
    ),
    utt(
        "A", 12.0, "Our billing system exports invoices to your accounting software automatically."
    ),
    utt("B", 20.0, "Yes sure. [PERSON] <PHONE_NUMBER> [PERSON] [PERSON] [PERSON]."),
    utt("B", 24.0, "How much does the billing system cost for twelve clinics?"),
    utt("A", 30.0, "The price for twelve clinics is four hundred a month."),
    utt("B", 36.0, "I like the weather today, it is quite sunny outside."),
)


def test_picks_the_central_sentences_in_time_order() -> None:
    result = run(BILLING, FACTS, SummaryParams(points=3))
    assert result.method == "extractive"
    assert [(p.text, p.utterances, p.speaker) for p in result.points] == [
        ("We need a new billing system for our clinics.", (1,), "B"),
        ("The current billing system loses invoices.", (1,), "B"),
        ("How much does the billing system cost for twelve clinics?", (4,), "B"),
    ]
    # the most central sentence gets the 0.6 ceiling of an extractive summary
    assert [round(p.confidence, 3) for p in result.points] == [0.567, 0.532, 0.6]
    assert result.utterances == (1, 4)


def test_fillers_placeholders_and_off_topic_are_left_out() -> None:
    result = run(BILLING, FACTS, SummaryParams(points=5))
    texts = [p.text for p in result.points]
    assert "Okay." not in texts and "Yes sure." not in texts
    assert not any("[PERSON]" in t for t in texts)
    assert "I like the weather today, it is quite sunny outside." not in texts
    assert all(p.confidence <= 0.6 for p in result.points)


def test_ten_percent_when_points_is_none() -> None:
    result = run(BILLING, FACTS, SummaryParams(points=None))
    assert [p.text for p in result.points] == [
        "How much does the billing system cost for twelve clinics?"
    ]


def test_topics_from_keywords_or_from_the_text() -> None:
    with_keywords = run(BILLING, FACTS, SummaryParams(), keywords=("billing", "pricing"))
    assert with_keywords.topics == "Discussed: billing, pricing."
    own = run(BILLING, FACTS, SummaryParams(topics=3))
    assert own.topics == "Discussed: billing, system, clinics."


def test_one_sentence_gets_the_low_confidence() -> None:
    result = run(
        call(utt("A", 0.0, "We will migrate the billing data next month.")), FACTS, SummaryParams()
    )
    assert [(p.text, p.confidence) for p in result.points] == [
        ("We will migrate the billing data next month.", 0.3)
    ]


def test_nothing_to_summarise() -> None:
    result = run(call(utt("A", 0.0, "Okay, bye.")), FACTS, SummaryParams(), keywords=("x",))
    assert (result.points, result.topics, result.confidence) == ((), "Discussed: x.", 0.0)


def test_json_shape() -> None:
    data = run(BILLING, FACTS, SummaryParams(points=1)).to_json()
    assert data == {
        "method": "extractive",
        "points": [
            {
                "text": "How much does the billing system cost for twelve clinics?",
                "utterances": [4],
                "speaker": "B",
                "confidence": 0.6,
            }
        ],
        "topics": "Discussed: billing, system, clinics, invoices, twelve.",
        "confidence": 0.6,
        "utterances": [4],
        "stamp": {
            "name": "summary",
            "version": "1",
            "params": {"method": "extractive", "points": 1, "min_words": 5, "topics": 5},
        },
    }


def test_sentences_and_topics_line() -> None:
    assert sentences_of("One. Two?  Three! four") == ["One.", "Two?", "Three!", "four"]
    assert topics_line(["a", " ", "b"]) == "Discussed: a, b."
    assert topics_line([]) == ""


def test_points_are_bounded() -> None:
    with pytest.raises(ConfigError, match="points must be 1..8, not 9"):
        run(BILLING, FACTS, SummaryParams(points=9))


def test_topics_are_shown_as_said() -> None:
    transcript = Transcript(
        "done",
        "de",
        "test",
        "1",
        (
            utt("A", 0.0, "Das Gespräch über die Preise war sehr gut heute."),
            utt("B", 6.0, "Die Preise für das Gespräch sind zu hoch leider."),
        ),
        True,
    )
    result = run(transcript, FACTS, SummaryParams(topics=2))
    assert result.topics == "Discussed: gespräch, preise."
