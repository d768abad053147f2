"""Which jurisdiction a phone number belongs to: its country and, in North America, its
state or province.

The country comes from phonenumbers. For the North American Numbering Plan (+1) the
state or province comes from the area code (`data/nanp_area_codes.csv`). Whatever cannot
be told for certain is "unknown", and callers apply the strictest rule to it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import phonenumbers

from callvault.errors import InputError

__all__ = ["UNKNOWN", "Jurisdiction", "is_known_jurisdiction", "jurisdiction_of"]

UNKNOWN = "unknown"

# One leading +, then digits with optional spaces, dots, hyphens or brackets (as
# `capture.files.parse_e164` accepts). E.164 allows at most 15 digits (ITU-T E.164 §6.1).
_E164_SYNTAX = re.compile(r"\+[0-9][0-9 .()\-]*[0-9]")
_MAX_DIGITS = 15
_NANP_COUNTRIES = frozenset({"US", "CA"})


@dataclass(frozen=True)
class Jurisdiction:
    """Where one participant's number belongs.

    `country` is an ISO 3166-1 alpha-2 code or "unknown". `region` is an ISO 3166-2 code
    ("US-CA", "CA-ON") for US and Canadian numbers, "unknown" when the area code is not a
    geographic one (toll-free, non-geographic), and None elsewhere, including area codes
    that several Canadian provinces or territories share (all of them follow federal law).
    """

    country: str
    region: str | None = None

    @property
    def key(self) -> str:
        """The most precise jurisdiction-table key: region, else country, else "unknown"."""
        if self.country == UNKNOWN or self.region == UNKNOWN:
            return UNKNOWN
        return self.region or self.country

    def to_dict(self) -> dict[str, str | None]:
        return {"country": self.country, "region": self.region, "key": self.key}


@cache
def _area_codes() -> dict[str, str]:
    text = resources.files("callvault.policy").joinpath("data/nanp_area_codes.csv").read_text()
    lines = (line for line in io.StringIO(text) if not line.startswith("#"))
    return {row["area_code"]: row["region"] for row in csv.DictReader(lines)}


@cache
def _known_keys() -> frozenset[str]:
    regions = {value for value in _area_codes().values() if "-" in value}
    return frozenset({UNKNOWN, *phonenumbers.SUPPORTED_REGIONS, *regions})


def is_known_jurisdiction(key: str) -> bool:
    """Whether `key` names a jurisdiction callvault can tell apart ("DE", "US-CA", "unknown")."""
    return key in _known_keys()


def _check_syntax(e164: str) -> None:
    digits = sum(char.isdigit() for char in e164)
    if not _E164_SYNTAX.fullmatch(e164) or digits > _MAX_DIGITS:
        shown = e164 if len(e164) <= 32 else e164[:32] + "..."
        raise InputError(
            f"{shown!r} is not an E.164 phone number; write + and the country code followed "
            "by at most 15 digits, for example +442071234567"
        )


def jurisdiction_of(e164: str) -> Jurisdiction:
    """The jurisdiction of an E.164 number.

    A number that is well formed but unassigned or invalid yields an unknown jurisdiction
    (the strictest rule applies to it); only text that is not E.164 at all is an
    `InputError`.
    """
    _check_syntax(e164)
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return Jurisdiction(UNKNOWN)
    if not phonenumbers.is_valid_number(number):
        return Jurisdiction(UNKNOWN)
    country = phonenumbers.region_code_for_number(number)
    if not country or country == "001":  # "001": non-geographic entities (+800, +882, ...)
        return Jurisdiction(UNKNOWN)
    if country not in _NANP_COUNTRIES:
        return Jurisdiction(country)
    area_code = phonenumbers.national_significant_number(number)[:3]
    region = _area_codes().get(area_code, UNKNOWN)
    if region == country:  # an area code shared by several provinces or territories
        return Jurisdiction(country)
    return Jurisdiction(country, region)
