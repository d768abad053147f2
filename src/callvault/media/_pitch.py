"""Voice anonymisation by pitch and formant transformation (issue 22, second method).

McAdams formant shifting (`_anonymize.py`) keeps the pitch, and a speaker embedding still
tells speakers apart when each has their own recording setup. This method moves both:
Praat's "Change gender" (via parselmouth) resamples the spectral envelope by a formant
ratio and re-synthesises the excitation by PSOLA at a new pitch median, keeping the
duration. Optionally McAdams follows ("both").

Each speaker's parameters come from a seed (`voice_parameters`), like
`mcadams_coefficient`: a formant ratio in [0.85, 0.95] ∪ [1.05, 1.2] and a pitch factor
in [0.7, 0.85] ∪ [1.2, 1.45] applied to the median F0 measured on the audio given. Both
ranges leave out the middle (a voice moved by 2 % is the same voice) and stop where
speech starts to sound synthetic.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import run

from callvault.errors import InputError
from callvault.media._anonymize import MAX_RATE, MIN_RATE, anonymize_voice, mcadams_coefficient

__all__ = [
    "FORMANT_RANGES",
    "PITCH_RANGES",
    "VOICE_METHODS",
    "VoiceParameters",
    "change_pitch_formants",
    "transform_voice",
    "voice_parameters",
]

VOICE_METHODS = ("mcadams", "pitch-formant", "both")
FORMANT_RANGES = ((0.85, 0.95), (1.05, 1.2))
PITCH_RANGES = ((0.7, 0.85), (1.2, 1.45))
# Praat's pitch analysis range for "Change gender" (its defaults).
MIN_PITCH = 75.0
MAX_PITCH = 600.0
# Praat needs a few periods of the lowest pitch to analyse: shorter input is padded with
# silence to this many seconds and cut back.
MIN_SECONDS = 0.1
_PRAAT_SEED = 22
# Peak under which the input is treated as silence (about -100 dBFS).
_SILENT_PEAK = 1e-5


@dataclass(frozen=True)
class VoiceParameters:
    """One speaker's anonymised voice: McAdams coefficient, formant ratio (new formant
    frequency / old) and pitch factor (new median F0 / measured median F0)."""

    alpha: float
    formant_ratio: float
    pitch_factor: float


def voice_parameters(seed: bytes) -> VoiceParameters:
    """The parameters for `seed`, the same every time. α is `mcadams_coefficient(seed)`
    (so the McAdams method is unchanged); the formant ratio and the pitch factor are
    drawn from their own HMAC-SHA256 of the seed: one bit picks the range below or
    above 1, 8 bytes the place in it."""
    return VoiceParameters(
        alpha=mcadams_coefficient(seed),
        formant_ratio=_draw(seed, b"callvault formant v1", FORMANT_RANGES),
        pitch_factor=_draw(seed, b"callvault pitch v1", PITCH_RANGES),
    )


def _draw(seed: bytes, label: bytes, ranges: tuple[tuple[float, float], ...]) -> float:
    digest = hmac.new(label, seed, hashlib.sha256).digest()
    low, high = ranges[digest[0] % len(ranges)]
    fraction = int.from_bytes(digest[1:9], "big") / float(1 << 64)
    return low + (high - low) * fraction


def transform_voice(
    samples: np.ndarray, rate: int, params: VoiceParameters, *, method: str
) -> np.ndarray:
    """`samples` (mono float in [-1, 1]) in the voice `params` gives, by `method`:
    "mcadams" (formant shifting by α, `anonymize_voice`), "pitch-formant"
    (`change_pitch_formants`) or "both" (pitch and formants, then McAdams). Float32, the
    same length, finite, in [-1, 1]."""
    if method == "mcadams":
        return anonymize_voice(samples, rate, alpha=params.alpha)
    if method == "pitch-formant":
        return change_pitch_formants(
            samples, rate, formant_ratio=params.formant_ratio, pitch_factor=params.pitch_factor
        )
    if method == "both":
        moved = change_pitch_formants(
            samples, rate, formant_ratio=params.formant_ratio, pitch_factor=params.pitch_factor
        )
        return anonymize_voice(moved, rate, alpha=params.alpha)
    raise InputError(f"voice method {method!r}: must be one of {', '.join(VOICE_METHODS)}")


def change_pitch_formants(
    samples: np.ndarray, rate: int, *, formant_ratio: float, pitch_factor: float
) -> np.ndarray:
    """`samples` with formants scaled by `formant_ratio` (0.5..2) and the pitch median
    by `pitch_factor` (0.5..2), pitch range and duration kept (Praat's "Change gender").
    Float32, the same length, finite, in [-1, 1], at most the input's peak. Input with no
    voiced speech keeps its pitch (there is none to move) and has its formants moved."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"sample rate {rate} Hz: voice anonymisation takes 8000..48000 Hz")
    for name, value in (("formant ratio", formant_ratio), ("pitch factor", pitch_factor)):
        if not np.isfinite(value) or not 0.5 <= value <= 2.0:
            raise InputError(f"{name} {value}: must be in 0.5..2.0")
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim != 1:
        raise InputError(f"voice anonymisation takes mono audio, not shape {signal.shape}")
    signal = np.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)
    count = signal.shape[0]
    peak = float(np.max(np.abs(signal))) if count else 0.0
    if peak < _SILENT_PEAK:
        return np.zeros(count, dtype=np.float32)
    padded = np.concatenate([signal, np.zeros(max(0, int(MIN_SECONDS * rate) - count))])
    sound = parselmouth.Sound(padded, sampling_frequency=float(rate))
    with warnings.catch_warnings():
        # "There were no voiced segments found": unvoiced input, handled below.
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        pitch = sound.to_pitch(pitch_floor=MIN_PITCH, pitch_ceiling=MAX_PITCH)
        f0 = pitch.selected_array["frequency"]
        voiced = f0[f0 > 0]
        # 0 keeps the pitch as it is (Praat's convention).
        target = float(np.median(voiced)) * pitch_factor if voiced.size else 0.0
        # PSOLA places the pulses of unvoiced stretches at random: a fixed seed makes
        # the same input give the same output on every read.
        script = (
            f"random_initializeWithSeedUnsafelyButPredictably ({_PRAAT_SEED})\n"
            f"Change gender: {MIN_PITCH:.1f}, {MAX_PITCH:.1f}, {formant_ratio:.6f}, "
            f"{target:.6f}, 1, 1\n"
        )
        changed = run(sound, script)[0]
    out = np.asarray(changed.values, dtype=np.float64).reshape(-1)
    # Same length: "Change gender" at duration factor 1 keeps it, to within a sample.
    out = out[:count] if out.shape[0] >= count else np.pad(out, (0, count - out.shape[0]))
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.max(np.abs(out))) if count else 0.0
    if top > peak:
        out *= peak / top
    return np.clip(out, -1.0, 1.0).astype(np.float32)
