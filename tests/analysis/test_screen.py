"""The hallucination screen: what Whisper makes up is dropped and counted, speech is kept."""

from __future__ import annotations

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis._screen import ScreenStats, is_looping, screen_segment


def _words(text: str) -> tuple[Word, ...]:
    return tuple(Word(0.3 * n, 0.3 * n + 0.25, w, 0.8) for n, w in enumerate(text.split()))


def _screen(text: str, language: str | None = "en", **probs: float) -> tuple[str, ScreenStats]:
    stats = ScreenStats()
    kept = screen_segment(
        _words(text),
        text,
        language=language,
        avg_logprob=probs.get("avg_logprob", -0.3),
        no_speech_prob=probs.get("no_speech_prob", 0.01),
        stats=stats,
    )
    return " ".join(w.text for w in kept.words), stats


def test_a_decoding_loop_is_told_from_a_number_read_aloud() -> None:
    assert is_looping("The number is 4 " + "-1 " * 40)
    assert is_looping("thank you " * 12)
    assert not is_looping("The number is 4556 7375 8689 9855, and it expires in May 2027.")
    assert not is_looping("-1 -1 -1 -1")  # too short to tell


def test_sound_speech_passes_untouched() -> None:
    text = "Hi, this is Sam from Northwind. The card ends in one one one one."
    assert _screen(text) == (text, ScreenStats())
    assert (
        _screen("Ja, das ist richtig, vielen Dank.", "de")[0] == "Ja, das ist richtig, vielen Dank."
    )


def test_a_looping_segment_is_dropped_and_counted() -> None:
    kept, stats = _screen("thank you " * 12)
    assert kept == "" and stats.to_json() == {"loop": 24}


def test_an_unsure_segment_where_whisper_heard_no_speech_is_dropped() -> None:
    kept, stats = _screen("Subtitles by the community", avg_logprob=-1.4, no_speech_prob=0.8)
    assert kept == "" and stats.to_json() == {"unsure": 4}
    # Unsure alone, or no-speech alone, is not enough.
    assert _screen("so yes", avg_logprob=-1.4, no_speech_prob=0.1)[0] == "so yes"
    assert _screen("so yes", avg_logprob=-0.2, no_speech_prob=0.9)[0] == "so yes"


def test_runs_of_single_letters_go() -> None:
    kept, stats = _screen("Guten Tag h h h h h h wie geht es", "de")
    assert kept == "Guten Tag wie geht es" and stats.to_json() == {"letters": 6}
    # Three letters are a spelling or an initial, not a run.
    assert _screen("It is J. F. K. airport")[0] == "It is J. F. K. airport"


def test_words_in_a_script_the_language_is_not_written_in_go() -> None:
    kept, stats = _screen("Vielen Dank ご視聴ありがとうございました und tschüss", "de")
    assert kept == "Vielen Dank und tschüss" and stats.to_json() == {"script": 1}
    assert _screen("thank you спасибо", "en")[1].to_json() == {"script": 1}
    # Serbian is written in both scripts; an unknown language is not screened for script.
    assert _screen("Hvala, хвала", "sr")[0] == "Hvala, хвала"
    assert _screen("thank you спасибо", None)[0] == "thank you спасибо"


def test_repeated_phrases_keep_their_first_saying_but_numbers_read_aloud_stay() -> None:
    kept, stats = _screen("I see. I see. I see. I see. I see. Okay.")
    assert kept == "I see. Okay." and stats.to_json() == {"repeat": 8}
    assert _screen("yes yes yes")[0] == "yes yes yes"  # three times is speech
    card = "four one one one one one one one one one one one"
    assert _screen(card)[0] == card
    assert _screen("1111 1111 1111 1111")[0] == "1111 1111 1111 1111"


def test_the_counts_travel_with_the_transcript() -> None:
    words = _words("hello there")
    utterance = Utterance("agent", 0, 0.0, 0.55, "hello there", 0.8, words)
    transcript = Transcript(
        "done", "en", "whisper-tiny.en", "0.1.0", (utterance,), True, {"letters": 6}
    )
    again = Transcript.from_json(transcript.to_json())
    assert again.screened == {"letters": 6}
    clean = Transcript("done", "en", "whisper-tiny.en", "0.1.0", (utterance,), True)
    assert "screened" not in clean.to_json() and Transcript.from_json(clean.to_json()) == clean


def test_a_card_number_misheard_as_words_is_never_screened_out() -> None:
    # tiny.en on an 8 kHz call: "five five five five, ..." written as "fine".
    heard = "Sure it is fine fine fine fine, fine fine fine fine, fine fine fine fine, 4444"
    assert _screen(heard) == (heard, ScreenStats())
    looped = "So the number was " + "fine fine, " * 10
    kept, stats = _screen(looped)
    assert kept == " ".join(looped.split()) and stats.to_json() == {}
