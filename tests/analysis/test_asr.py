"""Real recognition on the evaluation corpus with the installed models.

WER bounds sit well above what the models reach here (0 % on every clip below with
greedy decoding) so a small model update does not break them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callvault.analysis import (
    AsrParams,
    LegResult,
    ResolvedModel,
    Transcriber,
    decode_legs,
    resolve_model,
)

from .conftest import word_error_rate

GREEDY = AsrParams(beam_size=1)


def _legs(path: Path) -> list[np.ndarray]:
    return decode_legs(lambda: path.open("rb"))


def _text(result: LegResult) -> str:
    return " ".join(segment.text for segment in result.segments)


def _check_timings(result: LegResult) -> None:
    words = [word for segment in result.segments for word in segment.words]
    assert words
    for word in words:
        assert 0.0 <= word.start <= word.end <= result.duration + 0.05
        assert 0.0 <= word.confidence <= 1.0
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    for segment in result.segments:
        assert segment.words[0].start >= segment.start - 0.05
        assert segment.words[-1].end <= segment.end + 0.05
        mean = sum(word.confidence for word in segment.words) / len(segment.words)
        assert segment.confidence == pytest.approx(mean)


@pytest.fixture(scope="module")
def tiny_en(model_cache: Path) -> Transcriber:
    return Transcriber(resolve_model("en", cache_dir=model_cache))


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("en/jfk.flac", 0.05),
        ("en/ljspeech/LJ001-0002.wav", 0.2),
        ("en/ljspeech/LJ001-0008.wav", 0.2),
        ("en/librispeech_2830-3980-0043.wav", 0.34),
    ],
)
def test_english_wer(
    name: str, bound: float, tiny_en: Transcriber, eval_data: Path, references: dict[str, str]
) -> None:
    audio = _legs(eval_data / "asr" / name)[0]
    result = tiny_en.transcribe_leg(audio, language="en", params=GREEDY)
    assert result.language == "en"
    assert result.duration == pytest.approx(audio.size / 16000)
    wer = word_error_rate(references[name], _text(result))
    assert wer <= bound, f"{name}: WER {wer:.2f}: {_text(result)!r}"
    _check_timings(result)


def test_beam_search_and_progress(
    tiny_en: Transcriber, eval_data: Path, references: dict[str, str]
) -> None:
    audio = _legs(eval_data / "asr" / "en" / "jfk.flac")[0]
    seen: list[float] = []
    result = tiny_en.transcribe_leg(audio, language="en", progress=seen.append)  # beam 5
    assert word_error_rate(references["en/jfk.flac"], _text(result)) <= 0.05
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2


def test_noise_gives_no_segments(tiny_en: Transcriber) -> None:
    rng = np.random.default_rng(7)
    noise = (0.01 * rng.standard_normal(5 * 16000)).astype(np.float32)
    noise[16000:32000] = 0.0
    result = tiny_en.transcribe_leg(noise, language="en", params=GREEDY)
    assert result.segments == ()


def test_german_with_base(
    base_model: ResolvedModel, eval_data: Path, references: dict[str, str]
) -> None:
    name = "de/thorsten/e3b0d27c39d2a719d60f4ad335f04b15.wav"
    audio = _legs(eval_data / "asr" / name)[0]
    transcriber = Transcriber(base_model)
    assert transcriber.multilingual
    result = transcriber.transcribe_leg(audio, language=None, params=GREEDY)
    assert result.language == "de"  # detected
    wer = word_error_rate(references[name], _text(result))
    assert wer <= 0.35, f"{name}: WER {wer:.2f}: {_text(result)!r}"
    _check_timings(result)


def test_word_error_rate() -> None:
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("EXPERIENCE PROVES THIS", "Experience proves this.") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5


def test_speech_with_no_word_near_it_is_a_gap_to_decode_again() -> None:
    from callvault.analysis._asr import uncovered

    speech = [(1.0, 9.0), (12.0, 13.0), (20.0, 30.0)]
    words = [(1.2, 1.5), (1.6, 2.0), (8.0, 8.5), (20.5, 21.0)]
    # 2.5-7.5 in the first stretch (words reach 0.5 s), the short stretch is too short
    # to count, and the third is covered up to 21.5.
    assert uncovered(speech, words) == [(2.5, 7.5), (21.5, 30.0)]
    assert uncovered(speech, []) == [(1.0, 9.0), (20.0, 30.0)]
    assert uncovered([], words) == []
    assert uncovered([(0.0, 2.0)], [(0.4, 0.5), (1.2, 1.3)]) == []
