"""The sentiment stage: VADER for English, the German lexicon, timelines, customer trend."""

from __future__ import annotations

import json

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._records import CallFacts
from callvault.analysis.insights._sentiment import (
    STAMP,
    SentimentParams,
    run,
    score_german,
)


def utt(speaker: str, start: float, end: float, text: str) -> Utterance:
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(
        Word(start + i * step, start + (i + 1) * step, token, 0.9) for i, token in enumerate(tokens)
    )
    return Utterance(speaker, 0 if speaker == "A" else 1, start, end, text, 0.9, words)


def transcript(*utterances: Utterance, language: str | None = "en") -> Transcript:
    return Transcript("done", language, "test", "1", tuple(utterances), True)


ROLES = {"A": "agent", "B": "customer"}


def test_vader_labels_clear_sentences() -> None:
    call = transcript(
        utt("B", 0, 3, "Thank you so much, this is wonderful!"),
        utt("B", 3, 6, "This is terrible, I am very angry."),
        utt("B", 6, 9, "I am calling about my bill from March."),
    )
    result = run(call, CallFacts(duration=9.0))
    assert [i.label for i in result.items] == ["positive", "negative", "neutral"]
    assert result.items[0].score > 0.5
    assert result.items[1].score < -0.5
    assert result.method == "vader"
    assert result.stamp.params["method"] == "vader"
    assert STAMP.name == "sentiment"


def test_short_utterances_get_low_confidence() -> None:
    call = transcript(utt("B", 0, 1, "great"), utt("B", 1, 5, "This is a really great offer!"))
    short, long = run(call, CallFacts(duration=5.0)).items
    assert short.label == "positive"
    assert short.confidence <= 0.3
    assert long.confidence > 0.5


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Ich bin nicht zufrieden.", -1),
        ("Ich bin sehr zufrieden, danke!", 1),
        ("Das gefällt mir nicht.", -1),
        ("Das ist kein Problem.", 1),
        ("Das ist nicht in Ordnung.", -1),
        ("Ich möchte kündigen, das ist leider zu teuer.", -1),
        ("Ich rufe wegen meiner Rechnung an.", 0),
    ],
)
def test_german_lexicon_with_negation(text: str, sign: int) -> None:
    score, confidence = score_german(text)
    assert (score > 0) - (score < 0) == sign
    assert 0.0 < confidence <= 0.5


def test_german_intensifier_strengthens() -> None:
    plain, _ = score_german("Ich bin zufrieden.")
    strong, _ = score_german("Ich bin sehr zufrieden.")
    assert strong > plain > 0


def test_german_run_is_marked_and_capped() -> None:
    call = transcript(
        utt("B", 0, 3, "Das ist super, vielen Dank, ich bin total begeistert!"),
        utt("B", 3, 6, "Ich bin nicht zufrieden."),
        language="de",
    )
    result = run(call, CallFacts(duration=6.0))
    assert result.method == "lexicon-de"
    assert result.stamp.params["method"] == "lexicon-de"
    assert [i.label for i in result.items] == ["positive", "negative"]
    assert all(i.confidence <= 0.5 for i in result.items)


def test_other_languages_are_neutral_with_no_confidence() -> None:
    call = transcript(utt("B", 0, 3, "C'est vraiment excellent, merci!"), language="fr")
    result = run(call, CallFacts(duration=3.0))
    assert result.method == "none"
    assert result.items[0].label == "neutral"
    assert result.items[0].confidence == 0.0
    assert result.stamp.params["method"] == "none"


def test_placeholders_are_not_words() -> None:
    call = transcript(utt("B", 0, 1, "[CREDIT_CARD]"), utt("B", 1, 3, "Thanks, that is great."))
    result = run(call, CallFacts(duration=3.0))
    assert result.items[0].score == 0.0
    assert result.items[0].confidence == 0.0
    assert result.timelines[0].utterances == (1,)
    assert result.utterances == (1,)


def test_timeline_buckets_by_window() -> None:
    call = transcript(
        utt("B", 0, 5, "This is terrible."),
        utt("A", 5, 9, "I understand."),
        utt("B", 10, 15, "I am very angry."),
        utt("B", 40, 45, "Great, thank you!"),
    )
    result = run(call, CallFacts(duration=45.0, roles=ROLES))
    customer = next(t for t in result.timelines if t.speaker == "B")
    assert customer.role == "customer"
    assert [(p.start, p.end, p.utterances) for p in customer.points] == [
        (0.0, 30.0, (0, 2)),
        (30.0, 60.0, (3,)),
    ]
    scores = {i.utterance: i.score for i in result.items}
    assert customer.points[0].score == pytest.approx((scores[0] + scores[2]) / 2)
    per_utterance = run(call, CallFacts(duration=45.0), SentimentParams(window=5.0))
    assert len(next(t for t in per_utterance.timelines if t.speaker == "B").points) == 3


ANGRY_THEN_HAPPY = transcript(
    utt("B", 0, 5, "This is terrible, I am so angry."),
    utt("A", 5, 9, "I am sorry to hear that."),
    utt("B", 10, 14, "It has been broken for a week, awful."),
    utt("A", 14, 20, "Let me fix that for you."),
    utt("B", 20, 24, "Okay."),
    utt("B", 25, 30, "Wonderful, thank you so much, great help!"),
    utt("B", 31, 35, "I really appreciate it, perfect."),
)


def test_customer_trend_improving() -> None:
    result = run(ANGRY_THEN_HAPPY, CallFacts(duration=35.0, roles=ROLES))
    trend = result.customer
    assert trend is not None
    assert trend.speakers == ("B",)
    assert trend.start_utterances == (0, 2)  # 5 customer utterances: first and last 2
    assert trend.end_utterances == (5, 6)
    assert trend.start < -0.3 and trend.end > 0.3
    assert trend.label == "improving"
    assert trend.trend == pytest.approx(trend.end - trend.start)
    assert trend.utterances == (0, 2, 5, 6)

    edges = run(
        ANGRY_THEN_HAPPY, CallFacts(duration=35.0, roles=ROLES), SentimentParams(edge_utterances=1)
    )
    assert edges.customer is not None
    assert (edges.customer.start_utterances, edges.customer.end_utterances) == ((0,), (6,))


def test_customer_trend_declining_and_role_fallbacks() -> None:
    call = transcript(
        utt("A", 0, 3, "Hello, how can I help?"),
        utt("B", 3, 6, "Hi, thanks, everything was great so far."),
        utt("B", 6, 9, "But now this is a terrible, awful mess."),
    )
    with_roles = run(call, CallFacts(duration=9.0, roles=ROLES)).customer
    assert with_roles is not None and with_roles.label == "declining"
    agent_only = run(call, CallFacts(duration=9.0, roles={"A": "agent"})).customer
    assert agent_only is not None and agent_only.speakers == ("B",)
    assert agent_only.confidence == pytest.approx(with_roles.confidence * 0.8)
    no_roles = run(call, CallFacts(duration=9.0)).customer
    assert no_roles is not None and no_roles.speakers == ("A", "B")
    assert no_roles.confidence < with_roles.confidence


def test_to_json_is_plain() -> None:
    data = run(ANGRY_THEN_HAPPY, CallFacts(duration=35.0, roles=ROLES)).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["customer"]["label"] == "improving"
    assert data["stamp"] == {
        "name": "sentiment",
        "version": "1",
        "params": {"window": 30.0, "edge_utterances": None, "method": "vader"},
    }


def test_empty_transcript() -> None:
    empty = Transcript("no_speech", None, "test", "1", (), False)
    result = run(empty, CallFacts(duration=0.0))
    assert result.items == () and result.timelines == ()
    assert result.customer is None
    assert result.confidence == 0.0
    assert result.to_json()["utterances"] == []
