from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from callvault.errors import InputError
from callvault.media import anonymize_voice, mcadams_coefficient

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
# LJSpeech LJ001-0002 (22.05 kHz, one woman reading): "in being comparatively modern."
VOICE = EVAL / "asr" / "en" / "ljspeech" / "LJ001-0002.wav"
needs_voice = pytest.mark.skipif(not VOICE.exists(), reason="eval-data not present")


def read_voice(rate: int) -> np.ndarray:
    with wave.open(str(VOICE)) as wav:
        source_rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0
    return resample_poly(samples, rate, source_rate).astype(np.float32)


def centroid(samples: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    return float((power * np.fft.rfftfreq(samples.size, 1 / rate)).sum() / power.sum())


def first_formant_angles(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per loud 20 ms frame, the lowest angle (16 kHz scale) of an LPC pole near the
    unit circle: where the first formant is."""
    size = int(0.02 * rate)
    found = []
    energy_floor = 0.1 * np.mean(samples**2)
    for start in range(0, samples.size - size, size):
        frame = samples[start : start + size] * np.hanning(size)
        if np.mean(frame**2) < energy_floor:
            continue
        r = np.correlate(frame, frame, "full")[size - 1 : size + 10]
        a = np.linalg.solve(
            np.array([[r[abs(i - j)] for j in range(10)] for i in range(10)]), -r[1:11]
        )
        poles = np.roots(np.concatenate([[1.0], a]))
        near = poles[(poles.imag > 0) & (np.abs(poles) > 0.8)]
        if near.size:
            found.append(np.min(np.angle(near)) * rate / 16000)
    return np.array(found)


def test_coefficient_is_deterministic_per_seed_and_in_range() -> None:
    assert mcadams_coefficient(b"call-1/agent") == mcadams_coefficient(b"call-1/agent")
    values = {mcadams_coefficient(f"seed {n}".encode()) for n in range(200)}
    assert len(values) == 200
    assert min(values) >= 0.5 and max(values) <= 0.9
    assert min(values) < 0.55 and max(values) > 0.85  # spread over the range
    assert 0.6 <= mcadams_coefficient(b"x", low=0.6, high=0.6) <= 0.6
    with pytest.raises(InputError, match=r"McAdams range \[0.9, 0.5\]"):
        mcadams_coefficient(b"x", low=0.9, high=0.5)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 48000])
def test_length_dtype_and_range_are_kept(rate: int) -> None:
    rng = np.random.default_rng(1)
    for count in (0, 1, 17, int(0.015 * rate), rate // 2 + 3):
        noise = rng.uniform(-1, 1, count).astype(np.float32)
        out = anonymize_voice(noise, rate, alpha=0.7)
        assert out.shape == (count,) and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


def test_silence_stays_silent_and_bad_input_is_refused() -> None:
    assert not anonymize_voice(np.zeros(16000, np.float32), 16000, alpha=0.6).any()
    with_gap = np.zeros(32000, np.float32)
    with_gap[:8000] = 0.5 * np.sin(np.arange(8000) * 0.2)
    out = anonymize_voice(with_gap, 16000, alpha=0.6)
    assert np.abs(out[12000:]).max() < 1e-6  # no ringing into the silence that follows
    with pytest.raises(InputError, match="sample rate 4000 Hz"):
        anonymize_voice(with_gap, 4000, alpha=0.7)
    with pytest.raises(InputError, match="McAdams coefficient 1.3"):
        anonymize_voice(with_gap, 16000, alpha=1.3)
    with pytest.raises(InputError, match=r"mono audio, not shape \(2, 10\)"):
        anonymize_voice(np.zeros((2, 10), np.float32), 16000, alpha=0.7)
    nan = with_gap.copy()
    nan[100] = np.nan
    assert np.all(np.isfinite(anonymize_voice(nan, 16000, alpha=0.7)))


@needs_voice
def test_alpha_one_gives_back_the_voice() -> None:
    voice = read_voice(16000)
    out = anonymize_voice(voice, 16000, alpha=1.0)
    assert np.corrcoef(voice, out)[0, 1] > 0.999


@needs_voice
@pytest.mark.parametrize("rate", [8000, 16000])
def test_formants_move_the_way_alpha_says(rate: int) -> None:
    """α < 1 raises low formants (φ^α > φ for φ < 1 rad), the more the lower α, and
    with them the spectral centroid. Telephone-band audio too."""
    voice = read_voice(rate)
    up = anonymize_voice(voice, rate, alpha=0.7)
    less = anonymize_voice(voice, rate, alpha=0.9)
    assert centroid(up, rate) > centroid(less, rate) > centroid(voice, rate)
    f1 = np.median(first_formant_angles(voice, rate))
    f1_less = np.median(first_formant_angles(less, rate))
    assert np.median(first_formant_angles(up, rate)) > f1_less > f1
    # Different coefficients, different voices.
    other = anonymize_voice(voice, rate, alpha=0.8)
    assert np.corrcoef(up, other)[0, 1] < 0.95
