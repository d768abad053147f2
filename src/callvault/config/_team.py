"""The settings of team views (issue 22): k-anonymity and differential privacy."""

from __future__ import annotations

import math

from callvault.config._values import Setting, parse_int_range

__all__ = ["TEAM_SETTINGS", "parse_epsilon"]


def parse_epsilon(raw: str) -> float:
    """A privacy budget per released figure: a number above 0 (such as 0.5 or 1)."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number above 0, such as 1.0") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError("expected a number above 0, such as 1.0")
    return value


TEAM_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "team_min_group",
        "Team views: a team or organisation figure over fewer than this many distinct "
        "agents is suppressed unless the viewer may see every call behind it (k, 1 to 1000).",
        parse_int_range(1, 1000),
        lambda: 5,
    ),
    Setting(
        "team_epsilon",
        "Team views: the differential-privacy epsilon of each noisy count or sum released "
        "for a group the viewer may not see whole; empty: exact figures for groups of at "
        "least team_min_group agents.",
        parse_epsilon,
        None,
    ),
)
