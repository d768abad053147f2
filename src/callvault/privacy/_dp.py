"""Differentially private releases of counts, sums and means.

Mechanisms (Dwork and Roth, "The Algorithmic Foundations of Differential Privacy", 2014):

- counts: the two-sided geometric mechanism (Ghosh, Roughgarden and Sundararajan 2009),
  integer noise with P(z) proportional to exp(-epsilon |z| / sensitivity): the discrete
  analogue of Laplace, so a released count is still a whole number;
- sums: the Laplace mechanism, scale sensitivity / epsilon, over values clamped to stated
  bounds (the sensitivity is the largest absolute value the bounds allow);
- means and rates: a noisy sum over a noisy count, each with half of the epsilon given,
  clamped to the bounds afterwards (post-processing costs no privacy).

Every release is a `Release` that states its mechanism, epsilon, sensitivity and bounds;
`sequential_epsilon` adds the epsilons of releases over the same data (sequential
composition, the conservative bound: no parallel composition is claimed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from callvault.errors import InputError

__all__ = [
    "EXACT",
    "GEOMETRIC",
    "LAPLACE",
    "WITHHELD",
    "MeanRelease",
    "Release",
    "check_epsilon",
    "exact",
    "geometric_noise",
    "laplace_noise",
    "noisy_count",
    "noisy_mean",
    "noisy_sum",
    "sequential_epsilon",
    "withheld",
]

EXACT = "exact"
LAPLACE = "laplace"
GEOMETRIC = "geometric"
WITHHELD = "withheld"


def check_epsilon(epsilon: float) -> float:
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon <= 0:
        raise InputError(f"epsilon={epsilon!r} is not valid: it must be a number above 0")
    return float(epsilon)


def _check_sensitivity(sensitivity: float) -> float:
    if not math.isfinite(sensitivity) or sensitivity <= 0:
        raise InputError(f"sensitivity={sensitivity!r} is not valid: it must be above 0")
    return float(sensitivity)


def _check_bounds(lower: float, upper: float) -> tuple[float, float]:
    if not (math.isfinite(lower) and math.isfinite(upper)) or lower > upper:
        raise InputError(f"bounds [{lower}, {upper}] are not valid: lower must not exceed upper")
    return float(lower), float(upper)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    # Unseeded: numpy seeds it from the operating system's entropy. Tests pass a seeded one.
    return rng if rng is not None else np.random.default_rng()


def laplace_noise(
    sensitivity: float, epsilon: float, rng: np.random.Generator | None = None
) -> float:
    """One draw of Laplace noise of scale sensitivity / epsilon."""
    scale = _check_sensitivity(sensitivity) / check_epsilon(epsilon)
    return float(_rng(rng).laplace(0.0, scale))


def geometric_noise(
    sensitivity: float, epsilon: float, rng: np.random.Generator | None = None
) -> int:
    """One draw of two-sided geometric noise: the difference of two geometric variables
    with success probability 1 - exp(-epsilon / sensitivity)."""
    alpha = math.exp(-check_epsilon(epsilon) / _check_sensitivity(sensitivity))
    gen = _rng(rng)
    p = 1.0 - alpha
    return int(gen.geometric(p)) - int(gen.geometric(p))


@dataclass(frozen=True)
class Release:
    """One released figure: its value and how it was released. `mechanism` "exact" (no
    noise: the viewer may see every call behind it), "laplace" or "geometric";
    `suppressed` the reason when the value is withheld (then `value` is None)."""

    value: float | None
    mechanism: str
    epsilon: float | None = None
    sensitivity: float | None = None
    bounds: tuple[float, float] | None = None
    suppressed: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "value": None if self.value is None else round(self.value, 4),
            "mechanism": self.mechanism,
            "epsilon": self.epsilon,
            "sensitivity": self.sensitivity,
            "bounds": None if self.bounds is None else list(self.bounds),
            "suppressed": self.suppressed,
        }


def exact(value: float | None) -> Release:
    return Release(value, EXACT)


def withheld(reason: str) -> Release:
    """A figure not released at all (no epsilon spent)."""
    return Release(None, WITHHELD, suppressed=reason)


def noisy_count(
    count: int, epsilon: float, rng: np.random.Generator | None = None, *, sensitivity: int = 1
) -> Release:
    """A count with geometric noise, never below 0 (clamping is post-processing)."""
    noisy = max(0, count + geometric_noise(sensitivity, epsilon, rng))
    return Release(float(noisy), GEOMETRIC, float(epsilon), float(sensitivity))


def noisy_sum(
    values: Sequence[float],
    lower: float,
    upper: float,
    epsilon: float,
    rng: np.random.Generator | None = None,
) -> Release:
    """The sum of `values`, each clamped to [lower, upper], with Laplace noise scaled to
    the largest absolute value the bounds allow (one value added or removed)."""
    lower, upper = _check_bounds(lower, upper)
    sensitivity = max(abs(lower), abs(upper)) or 1.0
    total = float(sum(min(max(v, lower), upper) for v in values))
    noisy = total + laplace_noise(sensitivity, epsilon, rng)
    return Release(noisy, LAPLACE, float(epsilon), sensitivity, (lower, upper))


@dataclass(frozen=True)
class MeanRelease:
    """A mean released as a noisy sum over a noisy count (half the epsilon each)."""

    mean: Release
    total: Release
    count: Release

    @property
    def epsilon(self) -> float:
        return sequential_epsilon((self.total, self.count))


def noisy_mean(
    values: Sequence[float],
    lower: float,
    upper: float,
    epsilon: float,
    rng: np.random.Generator | None = None,
) -> MeanRelease:
    """The mean of `values` clamped to [lower, upper]: noisy sum / noisy count, clamped to
    the bounds; None when the noisy count is below 1."""
    half = check_epsilon(epsilon) / 2
    total = noisy_sum(values, lower, upper, half, rng)
    count = noisy_count(len(values), half, rng)
    assert total.value is not None and count.value is not None
    value = None
    if count.value >= 1:
        value = min(max(total.value / count.value, lower), upper)
    mean = Release(value, LAPLACE, float(epsilon), total.sensitivity, (lower, upper))
    return MeanRelease(mean, total, count)


def sequential_epsilon(releases: Iterable[Release]) -> float:
    """The epsilon spent by `releases` together over the same data: their sum
    (sequential composition); exact and suppressed releases spend none."""
    return float(sum(r.epsilon or 0.0 for r in releases if r.mechanism != EXACT))
