"""Privacy of aggregate views (issue 22): k-anonymous groups and differentially private
releases of counts, sums and means.

Pure functions, no I/O: the caller reads the data and passes the values. Randomness comes
from a `numpy.random.Generator` the caller may pass (a seeded one in tests only); without
one each release draws from a generator seeded by the operating system.
"""

from callvault.privacy._dp import (
    EXACT,
    GEOMETRIC,
    LAPLACE,
    WITHHELD,
    MeanRelease,
    Release,
    check_epsilon,
    exact,
    geometric_noise,
    laplace_noise,
    noisy_count,
    noisy_mean,
    noisy_sum,
    sequential_epsilon,
    withheld,
)
from callvault.privacy._kanon import Suppressed, check_k, suppress_small

__all__ = [
    "EXACT",
    "GEOMETRIC",
    "LAPLACE",
    "WITHHELD",
    "MeanRelease",
    "Release",
    "Suppressed",
    "check_epsilon",
    "check_k",
    "exact",
    "geometric_noise",
    "laplace_noise",
    "noisy_count",
    "noisy_mean",
    "noisy_sum",
    "sequential_epsilon",
    "suppress_small",
    "withheld",
]
