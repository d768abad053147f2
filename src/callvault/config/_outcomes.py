"""The settings of outcome prediction (issue 22)."""

from __future__ import annotations

from callvault.config._values import Setting, parse_fraction, parse_int_range

__all__ = ["OUTCOME_SETTINGS"]

OUTCOME_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "outcome_min_calls",
        "Fewest labelled calls (won/resolved or lost/churned) that `callvault predict "
        "train` trains an outcome model on; with fewer it refuses and says how many it has.",
        parse_int_range(20, 1_000_000),
        lambda: 30,
    ),
    Setting(
        "outcome_min_per_class",
        "Fewest calls of the rarer outcome (won/resolved or lost/churned) needed to train.",
        parse_int_range(10, 1_000_000),
        lambda: 10,
    ),
    Setting(
        "outcome_warning_threshold",
        "A deal warning is raised for an open deal or contact whose recent calls' mean "
        "predicted probability of a won/resolved outcome is below this (0 to 1).",
        parse_fraction,
        lambda: 0.35,
    ),
)
