from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import parselmouth
import pytest
from scipy.signal import resample_poly

from callvault.config._voice import VOICE_METHODS as CONFIG_METHODS
from callvault.errors import InputError
from callvault.media import (
    VOICE_METHODS,
    VoiceParameters,
    change_pitch_formants,
    mcadams_coefficient,
    transform_voice,
    voice_parameters,
)

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
# LJSpeech LJ001-0002 (22.05 kHz, one woman reading, median F0 about 190 Hz).
VOICE = EVAL / "asr" / "en" / "ljspeech" / "LJ001-0002.wav"
needs_voice = pytest.mark.skipif(not VOICE.exists(), reason="eval-data not present")
UP = VoiceParameters(alpha=0.8, formant_ratio=1.15, pitch_factor=1.3)
DOWN = VoiceParameters(alpha=0.7, formant_ratio=0.88, pitch_factor=0.75)


def read_voice(rate: int) -> np.ndarray:
    with wave.open(str(VOICE)) as wav:
        source_rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0
    return resample_poly(samples, rate, source_rate).astype(np.float32)


def median_f0(samples: np.ndarray, rate: int) -> float:
    sound = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=float(rate))
    f0 = sound.to_pitch(pitch_floor=75.0, pitch_ceiling=600.0).selected_array["frequency"]
    return float(np.median(f0[f0 > 0]))


def centroid(samples: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    return float((power * np.fft.rfftfreq(samples.size, 1 / rate)).sum() / power.sum())


def test_parameters_are_deterministic_per_seed_and_in_their_ranges() -> None:
    assert voice_parameters(b"call-1/agent") == voice_parameters(b"call-1/agent")
    assert voice_parameters(b"call-1/agent") != voice_parameters(b"call-1/customer")
    found = [voice_parameters(f"seed {n}".encode()) for n in range(300)]
    for n, params in enumerate(found[:20]):
        # The McAdams method keeps the coefficient it had before this method existed.
        assert params.alpha == mcadams_coefficient(f"seed {n}".encode())
    ratios = np.array([p.formant_ratio for p in found])
    factors = np.array([p.pitch_factor for p in found])
    assert np.all(((ratios >= 0.85) & (ratios <= 0.95)) | ((ratios >= 1.05) & (ratios <= 1.2)))
    assert np.all(((factors >= 0.7) & (factors <= 0.85)) | ((factors >= 1.2) & (factors <= 1.45)))
    # Both sides of 1 are used, for each, about as often.
    assert 100 < np.sum(ratios < 1) < 200
    assert 100 < np.sum(factors < 1) < 200
    assert len(set(ratios.tolist())) == 300


def test_the_setting_offers_the_methods_the_media_package_has() -> None:
    assert CONFIG_METHODS == VOICE_METHODS


@needs_voice
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("method", VOICE_METHODS)
def test_every_method_keeps_length_dtype_range_and_is_deterministic(rate: int, method: str) -> None:
    voice = read_voice(rate)
    out = transform_voice(voice, rate, UP, method=method)
    assert out.dtype == np.float32
    assert out.shape == voice.shape
    assert np.all(np.isfinite(out))
    assert float(np.max(np.abs(out))) <= 1.0
    assert float(np.max(np.abs(out))) > 0.1  # speech, not silence
    assert np.array_equal(out, transform_voice(voice, rate, UP, method=method))
    assert not np.allclose(out, voice, atol=0.01)


@needs_voice
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("params", [UP, DOWN], ids=["up", "down"])
def test_pitch_moves_by_the_factor(rate: int, params: VoiceParameters) -> None:
    voice = read_voice(rate)
    before = median_f0(voice, rate)
    assert 170 < before < 215  # the reader's own pitch, measured the same way
    moved = median_f0(transform_voice(voice, rate, params, method="pitch-formant"), rate)
    assert moved / before == pytest.approx(params.pitch_factor, rel=0.06)
    both = median_f0(transform_voice(voice, rate, params, method="both"), rate)
    assert both / before == pytest.approx(params.pitch_factor, rel=0.08)
    # McAdams alone leaves the pitch where it was: the reason for the second method.
    kept = median_f0(transform_voice(voice, rate, params, method="mcadams"), rate)
    assert kept / before == pytest.approx(1.0, rel=0.05)


@needs_voice
@pytest.mark.parametrize("rate", [8000, 16000])
def test_formant_ratio_moves_the_spectrum_its_way(rate: int) -> None:
    voice = read_voice(rate)
    up = change_pitch_formants(voice, rate, formant_ratio=1.15, pitch_factor=1.0)
    down = change_pitch_formants(voice, rate, formant_ratio=0.88, pitch_factor=1.0)
    assert centroid(up, rate) > centroid(voice, rate) * 1.03
    assert centroid(down, rate) < centroid(voice, rate) * 0.97
    # Pitch factor 1 keeps the pitch while the formants move.
    assert median_f0(up, rate) / median_f0(voice, rate) == pytest.approx(1.0, rel=0.05)


@needs_voice
@pytest.mark.parametrize("method", VOICE_METHODS)
def test_silence_stays_silent(method: str) -> None:
    rate = 8000
    assert np.array_equal(
        transform_voice(np.zeros(rate, dtype=np.float32), rate, UP, method=method),
        np.zeros(rate, dtype=np.float32),
    )
    voice = read_voice(rate)
    gap = np.zeros(rate, dtype=np.float32)
    out = transform_voice(np.concatenate([voice, gap, voice]), rate, DOWN, method=method)
    # A second of silence between two sentences, 50 ms from its edges, stays silent.
    inside = out[voice.size + rate // 20 : voice.size + rate - rate // 20]
    assert float(np.max(np.abs(inside))) < 1e-3
    assert float(np.max(np.abs(out[: voice.size]))) > 0.1


@pytest.mark.parametrize("count", [0, 1, 7, 160, 799])
@pytest.mark.parametrize("method", VOICE_METHODS)
def test_empty_and_very_short_input(count: int, method: str) -> None:
    noise = np.random.default_rng(count).standard_normal(count).astype(np.float32) * 0.1
    out = transform_voice(noise, 8000, DOWN, method=method)
    assert out.shape == (count,)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert np.all(np.abs(out) <= 1.0)


def test_unvoiced_input_keeps_its_length_without_a_warning() -> None:
    # Noise has no pitch to measure: Praat warns "no voiced segments", which is not
    # passed on (warnings are errors under pytest here), and the formants still move.
    noise = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    out = change_pitch_formants(noise, 16000, formant_ratio=1.1, pitch_factor=1.3)
    assert out.shape == noise.shape
    assert np.all(np.isfinite(out))


def test_bad_input_is_refused_with_what_was_wrong() -> None:
    audio = np.zeros(800, dtype=np.float32)
    with pytest.raises(InputError, match="voice method 'pitch'"):
        transform_voice(audio, 8000, UP, method="pitch")
    with pytest.raises(InputError, match="sample rate 4000"):
        transform_voice(audio, 4000, UP, method="pitch-formant")
    with pytest.raises(InputError, match="mono"):
        transform_voice(np.zeros((2, 800)), 8000, UP, method="pitch-formant")
    with pytest.raises(InputError, match="formant ratio 3.0"):
        change_pitch_formants(audio, 8000, formant_ratio=3.0, pitch_factor=1.0)
    with pytest.raises(InputError, match="pitch factor nan"):
        change_pitch_formants(audio, 8000, formant_ratio=1.1, pitch_factor=float("nan"))
