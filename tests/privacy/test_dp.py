"""Differentially private releases: the noise has mean 0 and the stated scale, sums are
clamped to their bounds, and an epsilon of 0 or less is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from callvault.errors import InputError
from callvault.privacy import (
    EXACT,
    GEOMETRIC,
    LAPLACE,
    WITHHELD,
    exact,
    geometric_noise,
    laplace_noise,
    noisy_count,
    noisy_mean,
    noisy_sum,
    sequential_epsilon,
    withheld,
)

DRAWS = 40_000


@pytest.mark.parametrize(("sensitivity", "epsilon"), [(1.0, 1.0), (10.0, 0.5), (1.0, 0.1)])
def test_laplace_noise_has_mean_zero_and_scale_sensitivity_over_epsilon(
    sensitivity: float, epsilon: float
) -> None:
    rng = np.random.default_rng(22)
    draws = np.array([laplace_noise(sensitivity, epsilon, rng) for _ in range(DRAWS)])
    scale = sensitivity / epsilon
    # Laplace(b): mean 0, E|x| = b, variance 2 b^2. The standard error of the mean is
    # sqrt(2) b / sqrt(n): 5 of them is a bound a correct mechanism fails once in 10^6.
    assert abs(draws.mean()) < 5 * math.sqrt(2) * scale / math.sqrt(DRAWS)
    assert np.abs(draws).mean() == pytest.approx(scale, rel=0.03)
    assert draws.var() == pytest.approx(2 * scale**2, rel=0.06)


@pytest.mark.parametrize("epsilon", [1.0, 0.25])
def test_geometric_noise_is_integer_symmetric_with_the_stated_variance(epsilon: float) -> None:
    rng = np.random.default_rng(7)
    draws = np.array([geometric_noise(1, epsilon, rng) for _ in range(DRAWS)])
    assert draws.dtype.kind == "i"
    alpha = math.exp(-epsilon)
    variance = 2 * alpha / (1 - alpha) ** 2
    assert abs(draws.mean()) < 5 * math.sqrt(variance / DRAWS)
    assert draws.var() == pytest.approx(variance, rel=0.06)
    # P(0) = (1 - a) / (1 + a) for the two-sided geometric distribution.
    assert (draws == 0).mean() == pytest.approx((1 - alpha) / (1 + alpha), abs=0.01)


@pytest.mark.parametrize("epsilon", [0, -1.0, float("nan"), float("inf")])
def test_refuses_epsilon_of_zero_or_less(epsilon: float) -> None:
    with pytest.raises(InputError, match=r"epsilon=.* is not valid: it must be a number above 0"):
        laplace_noise(1.0, epsilon)
    with pytest.raises(InputError, match=r"is not valid: it must be a number above 0"):
        noisy_count(3, epsilon)


def test_count_release_states_its_mechanism_and_is_never_negative() -> None:
    rng = np.random.default_rng(3)
    released = [noisy_count(0, 0.1, rng) for _ in range(500)]
    assert all(r.value is not None and r.value >= 0 for r in released)
    assert any(r.value for r in released)  # noise was added
    first = released[0]
    assert (first.mechanism, first.epsilon, first.sensitivity) == (GEOMETRIC, 0.1, 1.0)


def test_sum_clamps_to_the_bounds_which_set_the_sensitivity() -> None:
    rng = np.random.default_rng(5)
    # An outlier of 1000 counts as the upper bound 10: the sum is 10 + 1 = 11, plus noise.
    sums = [noisy_sum([1000.0, 1.0], 0.0, 10.0, 1.0, rng).value for _ in range(4000)]
    assert np.mean(sums) == pytest.approx(11.0, abs=0.6)
    one = noisy_sum([1.0], -1.0, 1.0, 2.0, rng)
    assert (one.mechanism, one.sensitivity, one.bounds, one.epsilon) == (
        LAPLACE,
        1.0,
        (-1.0, 1.0),
        2.0,
    )
    with pytest.raises(InputError, match=r"bounds \[1.0, 0.0\] are not valid"):
        noisy_sum([1.0], 1.0, 0.0, 1.0)


def test_mean_is_noisy_sum_over_noisy_count_within_bounds() -> None:
    rng = np.random.default_rng(11)
    values = [0.2, 0.4, 0.6, 0.8] * 50  # mean 0.5
    means = [noisy_mean(values, 0.0, 1.0, 1.0, rng) for _ in range(300)]
    got = [m.mean.value for m in means]
    assert all(v is not None and 0.0 <= v <= 1.0 for v in got)
    assert np.mean([v for v in got if v is not None]) == pytest.approx(0.5, abs=0.02)
    assert means[0].epsilon == pytest.approx(1.0)  # half to the sum, half to the count
    assert means[0].total.epsilon == means[0].count.epsilon == 0.5


def test_sequential_composition_adds_the_noisy_releases_only() -> None:
    rng = np.random.default_rng(1)
    releases = [noisy_count(5, 0.5, rng), noisy_sum([1.0], 0, 1, 0.25, rng), exact(3.0)]
    releases.append(withheld("fewer than 5 agents"))
    assert sequential_epsilon(releases) == pytest.approx(0.75)
    assert releases[2].mechanism == EXACT and releases[3].mechanism == WITHHELD
    assert releases[3].value is None and releases[3].suppressed == "fewer than 5 agents"
