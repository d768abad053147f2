"""Voice anonymisation by McAdams-coefficient formant shifting (issue 22).

The signal-processing baseline B2 of the VoicePrivacy challenges 2020 and 2022
(Patino et al., "Speaker anonymisation using the McAdams coefficient", Interspeech
2021): each ~20 ms Hann frame is modelled by linear prediction; the angle φ of every
complex pole pair of the LPC filter is moved to φ^α (α, the McAdams coefficient, below 1
raises the formants under the fixed point and lowers those above it); the frame's LPC
residual (the excitation, which carries the pitch and what is said) is filtered by the
new all-pole filter, and the frames are added back with the synthesis half of the
window.

Two departures from the baseline script, both for telephone audio:

- angles are taken on a 16 kHz scale whatever the sample rate (φ16 = φ·rate/16000), so
  one α moves a formant at a given frequency in Hz to the same place at 8 kHz and at
  16 kHz: one person sounds the same on a G.711 leg and on a wideband one;
- the LPC order follows the rate (rate/800, 10..24: 20 at 16 kHz, 10 at 8 kHz), the
  usual "two poles per kHz of bandwidth" rule.

Silent frames stay silent (no filter is fitted to them) and the output is scaled back
to the peak of the input, as the baseline does.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from callvault.errors import InputError

__all__ = ["MCADAMS_RANGE", "anonymize_voice", "mcadams_coefficient"]

# VoicePrivacy 2022 B2 draws α uniformly from [0.5, 0.9] per speaker.
MCADAMS_RANGE = (0.5, 0.9)
FRAME_MS = 20.0
SHIFT_MS = 10.0
MIN_RATE = 8000
MAX_RATE = 48000
# A frame with less energy than this (per sample, about -100 dBFS) is left silent.
_SILENT = 1e-10
_F64 = npt.NDArray[np.float64]


def mcadams_coefficient(seed: bytes, *, low: float = 0.5, high: float = 0.9) -> float:
    """A McAdams coefficient in [low, high], the same for the same `seed` every time
    (HMAC-SHA256 of the seed, its first 8 bytes read as a fraction)."""
    if not 0.0 < low <= high:
        raise InputError(f"McAdams range [{low}, {high}]: needs 0 < low <= high")
    digest = hmac.new(b"callvault mcadams v1", seed, hashlib.sha256).digest()
    fraction = int.from_bytes(digest[:8], "big") / float(1 << 64)
    return low + (high - low) * fraction


def lpc_order(rate: int) -> int:
    """Two poles per kHz of bandwidth, 10..24."""
    return int(min(24, max(10, round(rate / 800))))


def anonymize_voice(samples: np.ndarray, rate: int, *, alpha: float) -> np.ndarray:
    """`samples` (mono float in [-1, 1]) with its formants moved by the McAdams
    coefficient `alpha` (0.1..1): float32, the same length, finite, in [-1, 1]. α = 1
    returns the input resynthesised nearly unchanged; VoicePrivacy uses 0.5..0.9."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"sample rate {rate} Hz: voice anonymisation takes 8000..48000 Hz")
    # Above 1 every pole over 1 rad would pile up at the Nyquist frequency (π^α > π).
    if not 0.1 <= alpha <= 1.0 or not np.isfinite(alpha):
        raise InputError(f"McAdams coefficient {alpha}: must be in 0.1..1.0")
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim != 1:
        raise InputError(f"voice anonymisation takes mono audio, not shape {signal.shape}")
    signal = np.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)
    count = signal.shape[0]
    peak = float(np.max(np.abs(signal))) if count else 0.0
    if peak == 0.0:
        return np.zeros(count, dtype=np.float32)
    winlen = int(rate * FRAME_MS / 1000)
    shift = int(rate * SHIFT_MS / 1000)
    order = lpc_order(rate)
    # Padded by a frame each side so the first and last samples get full overlap-add.
    padded = np.concatenate([np.zeros(winlen), signal, np.zeros(winlen)])
    frames_n = 1 + (padded.shape[0] - winlen) // shift
    hann = np.hanning(winlen + 2)[1:-1]  # no zero end points
    # Analysis and synthesis both use sqrt(hann / K): their product, overlap-added at
    # `shift`, sums to about one.
    window = np.sqrt(hann / (hann.sum() / shift))
    starts = np.arange(frames_n) * shift
    frames = padded[starts[:, None] + np.arange(winlen)[None, :]] * window
    out = np.zeros(padded.shape[0])
    energy = np.mean(frames**2, axis=1)
    for m in np.flatnonzero(energy > _SILENT):
        frame = frames[m]
        a = _lpc(frame, order)
        if a is None:
            continue
        a_new = _shift_poles(a, alpha, rate)
        residual = lfilter(a, [1.0], frame)
        rebuilt = lfilter([1.0], a_new, residual) * window
        out[starts[m] : starts[m] + winlen] += rebuilt
    result = out[winlen : winlen + count]
    result = np.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.max(np.abs(result)))
    if top > 0.0:
        result *= peak / top
    return np.clip(result, -1.0, 1.0).astype(np.float32)


def _lpc(frame: _F64, order: int) -> _F64 | None:
    """Prediction polynomial [1, a1..ap] by the autocorrelation method (Levinson via a
    Toeplitz solve): always minimum phase, so its inverse filter is stable. None when
    the frame is too flat to fit."""
    n = frame.shape[0]
    spectrum = np.fft.rfft(frame, 2 * n)
    r = np.fft.irfft(np.abs(spectrum) ** 2)[: order + 1]
    if r[0] <= 0.0:
        return None
    r = r.copy()
    r[0] *= 1.0 + 1e-9  # white-noise correction keeps the solve well posed
    try:
        coefficients = solve_toeplitz(r[:order], -r[1 : order + 1])
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(coefficients)):
        return None
    return np.concatenate([[1.0], coefficients])


def _shift_poles(a: _F64, alpha: float, rate: int) -> _F64:
    """The polynomial whose complex poles have angle φ^α (φ on a 16 kHz scale, limited
    to 0..π at `rate`), their radii kept, real poles kept."""
    poles = np.roots(a)
    upper = poles[poles.imag > 0]
    real = poles[poles.imag == 0]
    scale = rate / 16000.0
    angles16 = np.angle(upper) * scale
    moved = np.clip(angles16**alpha / scale, 0.0, np.pi)
    rebuilt = np.abs(upper) * np.exp(1j * moved)
    new_poles = np.concatenate([rebuilt, np.conj(rebuilt), real])
    return np.real(np.poly(new_poles)).astype(np.float64)
