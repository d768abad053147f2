"""Finding speech per leg (energy gate, Silero VAD) and the stitched signal's time map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import VadOptions

from callvault.analysis import decode_legs
from callvault.analysis._asr import AsrSegment
from callvault.analysis._records import Word
from callvault.analysis._speech import GateParams, SpeechSpan, find_speech, loud_regions, stitch
from callvault.analysis.pipeline import _pieces_by_leg

SR = 16000


def _tone(seconds: float, dbfs: float, frequency: float = 300.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SR), dtype=np.float32)


def test_gate_keeps_loud_stretches_with_padding() -> None:
    audio = np.concatenate([_silence(3), _tone(1, -20), _silence(5), _tone(2, -30), _silence(0.2)])
    regions = loud_regions(audio, GateParams(pad=0.5, join=1.0))
    # Each tone, widened by half a second (to 30 ms frames); the gap of 5 s stays out.
    assert len(regions) == 2
    (a0, a1), (b0, b1) = regions
    assert a0 / SR == pytest.approx(2.5, abs=0.04) and a1 / SR == pytest.approx(4.5, abs=0.04)
    assert b0 / SR == pytest.approx(8.5, abs=0.04) and b1 == audio.shape[0]  # to the end


def test_gate_joins_short_gaps_and_passes_speech_level_over_noise() -> None:
    rng = np.random.default_rng(1)
    hiss = (10 ** (-55 / 20) * rng.standard_normal(10 * SR)).astype(np.float32)
    audio = hiss.copy()
    audio[SR : 2 * SR] += _tone(1, -35)
    audio[round(2.6 * SR) : round(3.6 * SR)] += _tone(1, -35)  # 0.6 s later: joined
    regions = loud_regions(audio)
    assert len(regions) == 1
    assert regions[0][0] / SR == pytest.approx(0.5, abs=0.04)
    assert regions[0][1] / SR == pytest.approx(4.1, abs=0.04)


def test_gate_on_silence_and_on_short_input() -> None:
    assert loud_regions(_silence(4)) == []
    assert loud_regions(np.zeros(0, dtype=np.float32)) == []
    short = _tone(0.01, -20)  # shorter than one frame: nothing to measure, all kept
    assert loud_regions(short) == [(0, short.shape[0])]


def test_find_speech_orders_spans_of_all_legs(eval_data: Path) -> None:
    path = eval_data / "asr" / "en" / "stereo_diarization.wav"
    legs = decode_legs(lambda: path.open("rb"))
    quiet = [leg * 0 for leg in legs]
    assert find_speech(quiet, VadOptions()) == []
    # Speech on the right leg only, delayed by 3 s: the left leg gives no span.
    moved = [_silence(8), np.concatenate([_silence(3), legs[1]])]
    spans = find_speech(moved, VadOptions())
    assert spans and {s.leg for s in spans} == {1}
    assert spans[0].start / SR == pytest.approx(3.0, abs=0.5)
    both = find_speech(legs, VadOptions())
    assert {s.leg for s in both} == {0, 1}
    assert [s.start for s in both] == sorted(s.start for s in both)


def test_stitch_maps_times_back_to_each_leg() -> None:
    legs = [np.arange(10 * SR, dtype=np.float32), -np.arange(10 * SR, dtype=np.float32)]
    spans = [
        SpeechSpan(0, 1 * SR, 3 * SR),
        SpeechSpan(1, 2 * SR, 4 * SR),
        SpeechSpan(0, 8 * SR, 9 * SR),
    ]
    stitched = stitch(legs, spans)
    assert stitched.duration == 5.0 and stitched.offsets == (0, 2 * SR, 4 * SR)
    np.testing.assert_array_equal(stitched.audio[2 * SR : 4 * SR], legs[1][2 * SR : 4 * SR])
    assert stitched.span_at(0.5) == 0 and stitched.span_at(2.0) == 1 and stitched.span_at(4.5) == 2
    assert stitched.span_at(99.0) == 2  # past the end: the last span
    assert stitched.to_leg(0.5, 0) == 1.5
    assert stitched.to_leg(3.0, 1) == 3.0
    assert stitched.to_leg(4.25, 2) == 8.25
    assert stitched.to_leg(5.5, 2) == 9.0  # kept inside the span
    assert stitch(legs, []).duration == 0.0


def test_a_stitched_segment_is_split_by_leg_with_leg_times() -> None:
    legs = [_silence(10), _silence(10)]
    stitched = stitch(legs, [SpeechSpan(0, 1 * SR, 3 * SR), SpeechSpan(1, 5 * SR, 7 * SR)])
    words = (
        Word(0.2, 0.6, "Hello", 0.9),
        Word(0.7, 1.1, "there.", 0.7),
        Word(2.1, 2.5, "Hi!", 0.5),  # in the second span: leg 1, at 5.1 s
    )
    segment = AsrSegment(0.2, 2.5, "Hello there. Hi!", 0.7, words)

    def speaker(leg: int) -> tuple[str, int | None]:
        return ("agent", "customer")[leg], leg

    first, second = _pieces_by_leg(segment, stitched, speaker)
    assert (first.speaker, first.channel, first.text) == ("agent", 0, "Hello there.")
    assert (first.start, first.end) == pytest.approx((1.2, 2.1))
    assert first.confidence == pytest.approx(0.8)
    assert (second.speaker, second.channel, second.text) == ("customer", 1, "Hi!")
    assert (second.start, second.end) == pytest.approx((5.1, 5.5))
    # A segment on one leg keeps Whisper's text; one without words is placed by its times.
    (whole,) = _pieces_by_leg(replace_words(segment, words[:2]), stitched, speaker)
    assert whole.text == "Hello there. Hi!"
    (bare,) = _pieces_by_leg(replace_words(segment, ()), stitched, speaker)
    assert (bare.speaker, bare.start, bare.end, bare.words) == ("agent", 1.2, 3.0, ())


def replace_words(segment: AsrSegment, words: tuple[Word, ...]) -> AsrSegment:
    return AsrSegment(segment.start, segment.end, segment.text, segment.confidence, words)


def test_clips_pack_spans_into_windows_cut_between_spans() -> None:
    legs = [_silence(100), _silence(100)]
    spans = [
        SpeechSpan(0, 0, 10 * SR),
        SpeechSpan(1, 10 * SR, 25 * SR),  # 10 + 15 = 25 s: one clip
        SpeechSpan(0, 30 * SR, 40 * SR),  # would make 35 s: a new clip
        SpeechSpan(1, 40 * SR, 100 * SR),  # 60 s in one span: cut every 30 s
    ]
    stitched = stitch(legs, spans)
    assert stitched.clips(30.0) == [(0.0, 25.0), (25.0, 35.0), (35.0, 65.0), (65.0, 95.0)]
    assert stitch(legs, []).clips(30.0) == []


def test_silence_before_each_span_belongs_to_it() -> None:
    legs = [np.ones(10 * SR, dtype=np.float32), np.full(10 * SR, 2.0, dtype=np.float32)]
    spans = [SpeechSpan(0, 1 * SR, 3 * SR), SpeechSpan(1, 5 * SR, 6 * SR)]
    lead = SR // 10
    stitched = stitch(legs, spans, lead=lead)
    assert stitched.offsets == (lead, 2 * lead + 2 * SR)
    assert stitched.duration == pytest.approx(3.2)
    assert not stitched.audio[:lead].any() and (stitched.audio[lead : lead + 2 * SR] == 1).all()
    assert not stitched.audio[lead + 2 * SR : 2 * lead + 2 * SR].any()
    # A time in the silence before span 1 maps to span 1, kept at its start.
    assert stitched.span_at(2.15) == 1 and stitched.to_leg(2.15, 1) == 5.0
    assert stitched.span_at(0.05) == 0 and stitched.to_leg(0.05, 0) == 1.0
    # The first clip starts at the very beginning, silence included.
    assert stitched.clips(30.0) == [(0.0, pytest.approx(3.2))]
