"""Spoken refusals of the recording (`analysis._refusal`): positive and negative
utterances per language with word timings, and the exact span that is found."""

from __future__ import annotations

import pytest

from callvault.analysis import REFUSAL_LANGUAGES, Refusal, Word, detect_refusals
from callvault.analysis.live import LiveWord

STEP = 0.5  # each word starts 0.5 s after the previous one and lasts 0.4 s


def said(text: str, *, at: float = 10.0, confidence: float = 0.9) -> list[Word]:
    return [
        Word(at + i * STEP, at + i * STEP + 0.4, word, confidence)
        for i, word in enumerate(text.split())
    ]


def span_of(text: str, part: str, *, at: float = 10.0) -> tuple[float, float]:
    """Start and end of the words `part` inside `text` as `said` times them."""
    words, wanted = text.split(), part.split()
    for i in range(len(words) - len(wanted) + 1):
        if words[i : i + len(wanted)] == wanted:
            return at + i * STEP, at + (i + len(wanted) - 1) * STEP + 0.4
    raise AssertionError(f"{part!r} is not in {text!r}")


# (language, utterance, the words of the refusal span)
POSITIVE = [
    ("en", "I don't want to be recorded.", "don't want to be recorded."),
    ("en", "I really don't want this call to be recorded.", "don't want this call to be recorded."),
    ("en", "Please don't record me.", "Please don't record me."),
    ("en", "Could you stop recording?", "stop recording?"),
    ("en", "I do not consent to the recording.", "not consent to the recording."),
    ("en", "I object to this call being recorded.", "object to this call being recorded."),
    ("en", "I'd rather not be recorded, thanks.", "rather not be recorded,"),
    ("en", "Turn off the recording please.", "Turn off the recording"),
    ("en", "You don't have my permission to record this.", "don't have my permission to record"),
    ("en", "No recording please.", "No recording please."),
    ("de", "Ich möchte nicht aufgenommen werden.", "möchte nicht aufgenommen"),
    ("de", "Bitte nicht aufnehmen.", "Bitte nicht aufnehmen."),
    (
        "de",
        "Ich will nicht, dass dieses Gespräch aufgezeichnet wird.",
        "will nicht, dass dieses Gespräch aufgezeichnet",
    ),
    ("de", "Nehmen Sie mich bitte nicht auf.", "Nehmen Sie mich bitte nicht auf."),
    ("de", "Ich bin mit der Aufnahme nicht einverstanden.", "Aufnahme nicht einverstanden."),
    ("de", "Ich widerspreche der Aufzeichnung.", "widerspreche der Aufzeichnung."),
    ("de", "Stoppen Sie bitte die Aufnahme.", "Stoppen Sie bitte die Aufnahme."),
    ("de", "Ich stimme der Aufzeichnung nicht zu.", "stimme der Aufzeichnung nicht"),
]

NEGATIVE = [
    ("en", "If you do not want to be recorded, say so."),
    ("en", "Do you want me to stop the recording?"),
    ("en", "I don't mind being recorded."),
    ("en", "I don't want to be charged."),
    ("en", "For the record, I paid on Monday."),
    ("en", "Is this call recorded?"),
    ("en", "We don't record card numbers."),
    ("en", "I don't object to being recorded."),
    ("en", "Customers who do not want to be recorded can press nine."),
    ("en", "I don't want to record a new greeting."),
    ("de", "Wenn Sie nicht aufgenommen werden möchten, sagen Sie es bitte."),
    ("de", "Ich habe nichts dagegen, aufgenommen zu werden."),
    ("de", "Das Gespräch wird nicht aufgezeichnet."),
    ("de", "Ich möchte keinen Kredit aufnehmen."),
]


@pytest.mark.parametrize(("language", "text", "part"), POSITIVE)
def test_a_refusal_is_found_with_its_exact_span(language: str, text: str, part: str) -> None:
    found = detect_refusals(said(text), language=language)
    assert len(found) == 1, found
    start, end = span_of(text, part)
    assert (found[0].start, found[0].end) == pytest.approx((start, end))
    assert found[0].text == part
    assert found[0].language == language
    assert found[0].phrase.startswith(language + "-")
    assert 0.0 < found[0].confidence <= 0.9


@pytest.mark.parametrize(("language", "text"), NEGATIVE)
def test_what_is_no_refusal_is_not_found(language: str, text: str) -> None:
    assert detect_refusals(said(text), language=language) == []
    assert detect_refusals(said(text), language=None) == []


def test_live_words_work_as_well_as_batch_words() -> None:
    words = [LiveWord(w.start, w.end, w.text, w.confidence) for w in said("Bitte nicht aufnehmen.")]
    assert detect_refusals(words, language="de-AT") == [
        Refusal(10.0, 11.4, "Bitte nicht aufnehmen.", 0.9, "de-please-not-record", "de")
    ]


def test_languages_include_english_and_german() -> None:
    assert {"en", "de"} <= set(REFUSAL_LANGUAGES)
    assert detect_refusals([], language="en") == []
