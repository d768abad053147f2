"""Spoken refusals of the recording (`analysis._refusal`): positive and negative
utterances per language with word timings, the exact span that is found, and every line
of the tune set (bench/data/refusal_tune.toml; the held-out set is for bench/refusal.py
only)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

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
    ("fr", "Je ne veux pas être enregistré.", "ne veux pas être enregistré."),
    ("fr", "Arrêtez l'enregistrement, s'il vous plaît.", "Arrêtez l'enregistrement,"),
    ("fr", "Ne m'enregistrez pas.", "Ne m'enregistrez pas."),
    ("es", "No quiero que me graben.", "No quiero que me graben."),
    ("es", "Bueno, deje de grabar ahora.", "deje de grabar"),
    (
        "it",
        "Non voglio che la chiamata venga registrata.",
        "Non voglio che la chiamata venga registrata.",
    ),
    ("it", "Mi oppongo alla registrazione.", "oppongo alla registrazione."),
    ("hr", "Nemojte me snimati.", "Nemojte me snimati."),
    ("hr", "Nisam suglasan sa snimanjem.", "Nisam suglasan sa snimanjem."),
    ("sr", "Ne želim da budem snimljen.", "Ne želim da budem snimljen."),
    ("sr", "Не желим да ме снимате.", "Не желим да ме снимате."),
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
    ("fr", "Si vous ne souhaitez pas être enregistré, dites-le."),
    ("fr", "Je ne veux pas enregistrer mes bagages."),
    ("es", "Si no desea que se le grabe, dígalo."),
    ("it", "Se non vuole essere registrato, me lo dica."),
    ("hr", "Ako ne želite da vas se snima, recite to."),
    ("sr", "Да ли снимате овај разговор?"),
]

TUNE = Path(__file__).parents[2] / "bench" / "data" / "refusal_tune.toml"


def tune_set() -> list[Any]:
    lines = tomllib.loads(TUNE.read_text("utf-8"))["utterance"]
    return [
        pytest.param(u["language"], u["text"], u["refusal"], id=f"{u['language']}-{i}")
        for i, u in enumerate(lines)
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


@pytest.mark.parametrize(("language", "text", "refusal"), tune_set())
def test_the_tune_set_is_detected_as_labelled(language: str, text: str, refusal: bool) -> None:
    assert bool(detect_refusals(said(text), language=language)) is refusal
    assert bool(detect_refusals(said(text), language=None)) is refusal


def test_the_tune_set_has_every_language_and_enough_lines() -> None:
    languages = [p.values[0] for p in tune_set()]
    assert set(languages) == {"en", "de", "fr", "es", "it", "hr", "sr"} == set(REFUSAL_LANGUAGES)
    assert len(languages) >= 150


def test_confidence_is_directness_times_the_recognisers_confidence() -> None:
    sure = detect_refusals(said("I don't want to be recorded", confidence=1.0), language="en")
    unsure = detect_refusals(said("I don't want to be recorded", confidence=0.5), language="en")
    indirect = detect_refusals(said("No recording please", confidence=1.0), language="en")
    assert [r.confidence for r in sure + unsure + indirect] == [1.0, 0.5, 0.8]


def test_a_condition_in_an_earlier_sentence_does_not_count() -> None:
    text = "If that is so. I don't want to be recorded."
    found = detect_refusals(said(text), language="en")
    assert [(r.start, r.end) for r in found] == [span_of(text, "don't want to be recorded.")]
    assert detect_refusals(said("If so I don't want to be recorded"), language="en") == []


def test_a_pause_ends_the_clause_as_a_full_stop_does() -> None:
    condition = said("if you")
    refusal = said("don't want to be recorded", at=condition[-1].end + 2.0)
    assert len(detect_refusals(condition + refusal, language="en")) == 1
    close = said("don't want to be recorded", at=condition[-1].end + 0.2)
    assert detect_refusals(condition + close, language="en") == []


def test_overlapping_matches_are_one_refusal_over_all_their_words() -> None:
    text = "No, please do not record me"
    found = detect_refusals(said(text), language="en")
    assert [(r.text, r.phrase) for r in found] == [("please do not record me", "en-do-not-record")]


def test_two_refusals_in_one_leg_are_two() -> None:
    first = said("Stop the recording.")
    second = said("I said I don't want to be recorded!", at=first[-1].end + 5.0)
    found = detect_refusals(first + second, language="en")
    assert [r.phrase for r in found] == ["en-stop-recording", "en-not-want-recorded"]
    assert found[1].start == second[3].start


def test_an_unknown_language_tries_every_language() -> None:
    found = detect_refusals(said("Bitte nicht aufnehmen."), language="pt")
    assert [(r.language, r.phrase) for r in found] == [("de", "de-please-not-record")]


def test_live_words_work_as_well_as_batch_words() -> None:
    words = [LiveWord(w.start, w.end, w.text, w.confidence) for w in said("Bitte nicht aufnehmen.")]
    assert detect_refusals(words, language="de-AT") == [
        Refusal(10.0, 11.4, "Bitte nicht aufnehmen.", 0.9, "de-please-not-record", "de")
    ]


def test_languages_include_english_and_german() -> None:
    assert {"en", "de"} <= set(REFUSAL_LANGUAGES)
    assert detect_refusals([], language="en") == []
