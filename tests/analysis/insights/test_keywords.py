"""The keywords stage: YAKE keywords, clean-up, occurrences and topics."""

from __future__ import annotations

import json

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._keywords import STAMP, Keyword, KeywordsParams, run
from callvault.analysis.insights._records import CallFacts


def utt(speaker: str, start: float, text: str, step: float = 0.5) -> Utterance:
    """An utterance with one word every `step` seconds from `start`."""
    tokens = text.split()
    words = tuple(
        Word(start + i * step, start + (i + 1) * step, token, 0.9) for i, token in enumerate(tokens)
    )
    return Utterance(speaker, None, start, start + len(tokens) * step, text, 0.9, words)


def transcript(*utterances: Utterance, language: str | None = "en") -> Transcript:
    return Transcript("done", language, "test", "1", tuple(utterances), True)


CALL = transcript(
    utt("A", 0, "Hello, thanks for calling, how can I help you today?"),
    utt("B", 10, "My internet connection keeps dropping since Monday."),
    utt("A", 20, "Let us try a router reset first. Please unplug the router."),
    utt("B", 30, "Okay, the router reset is done. My card is [CREDIT_CARD] by the way."),
    utt("A", 40, "Good. If the router reset does not help, we send a technician."),
    utt("B", 50, "The internet connection works again after the router reset, 12345."),
    utt("A", 60, "Great. The technician appointment is cancelled then."),
)
FACTS = CallFacts(duration=70.0, roles={"A": "agent", "B": "customer"})


def texts(keywords: tuple[Keyword, ...]) -> list[str]:
    return [k.text.casefold() for k in keywords]


def test_repeated_phrase_is_a_keyword_with_its_occurrences() -> None:
    result = run(CALL, FACTS)
    keywords = {k.text.casefold(): k for k in result.keywords}
    assert "router reset" in keywords
    reset = keywords["router reset"]
    # "router" is word 4 (from 0) of utterance 2, 2 of 3, 3 of 4, 7 of 5; 0.5 s a word
    assert [(o.utterance, o.start, o.speaker) for o in reset.occurrences] == [
        (2, 22.0, "A"),
        (3, 31.0, "B"),
        (4, 41.5, "A"),
        (5, 53.5, "B"),
    ]
    assert reset.utterances == (2, 3, 4, 5)
    assert 0.0 < reset.confidence <= 1.0
    assert "internet connection" in keywords


def test_placeholders_numbers_and_stopwords_are_dropped() -> None:
    found = texts(run(CALL, FACTS).keywords)
    assert not any("credit" in k or "card]" in k or "[" in k for k in found)
    assert not any(k.replace(" ", "").isdigit() for k in found)
    assert "the" not in found and "how" not in found


def test_near_duplicates_are_merged() -> None:
    result = run(CALL, FACTS)
    token_lists = [k.text.casefold().split() for k in result.keywords]
    assert len({tuple(t) for t in token_lists}) == len(token_lists)
    for outer in token_lists:
        for inner in token_lists:
            if inner is outer:
                continue
            joined = " " + " ".join(outer) + " "
            assert " " + " ".join(inner) + " " not in joined  # no sub-phrase kept twice
    assert "router" not in texts(result.keywords)  # inside "router reset"


def test_keywords_are_ranked_and_limited() -> None:
    result = run(CALL, FACTS, KeywordsParams(top=3))
    assert len(result.keywords) == 3
    scores = [k.score for k in result.keywords]
    assert scores == sorted(scores)
    confidences = [k.confidence for k in result.keywords]
    assert confidences == sorted(confidences, reverse=True)
    assert result.stamp.params["top"] == 3
    assert STAMP.name == "keywords" and STAMP.params["top"] == 20


def test_every_keyword_occurs_and_topics_share_their_label() -> None:
    result = run(CALL, FACTS)
    for keyword in result.keywords:
        assert keyword.occurrences
        assert set(keyword.utterances) <= set(result.utterances)
    for topic in result.topics:
        assert len(topic.keywords) >= 2
        assert all(topic.label in k.casefold().split() for k in topic.keywords)


def test_topics_group_keywords_by_shared_token() -> None:
    call = transcript(
        utt("B", 0, "The refund request was rejected. I want my refund request approved."),
        utt("A", 10, "Your refund status shows pending. The refund status changes tomorrow."),
        utt("B", 20, "A refund status of pending for a refund request is annoying."),
    )
    result = run(call, CallFacts(duration=30.0))
    labels = {t.label: t for t in result.topics}
    assert "refund" in labels
    assert {"refund request", "refund status"} <= {k.casefold() for k in labels["refund"].keywords}


def test_german_keywords() -> None:
    call = transcript(
        utt("B", 0, "Ich möchte meinen Vertrag kündigen, der Vertrag ist zu teuer."),
        utt("A", 10, "Ich verstehe. Der Vertrag läuft noch bis März."),
        language="de",
    )
    result = run(call, CallFacts(duration=20.0))
    assert any("vertrag" in k for k in texts(result.keywords))
    assert "der" not in texts(result.keywords)
    assert result.language == "de"


def test_to_json_is_plain() -> None:
    data = run(CALL, FACTS).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["stamp"]["name"] == "keywords"
    first = data["keywords"][0]
    assert set(first) == {"text", "score", "confidence", "occurrences", "utterances"}


def test_empty_and_placeholder_only_transcripts() -> None:
    empty = Transcript("no_speech", None, "test", "1", (), False)
    result = run(empty, CallFacts(duration=0.0))
    assert result.keywords == () and result.topics == ()
    assert result.confidence == 0.0
    only_pii = transcript(utt("B", 0, "[CREDIT_CARD] [PHONE_NUMBER]"))
    assert run(only_pii, CallFacts(duration=2.0)).keywords == ()
