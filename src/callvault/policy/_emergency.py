"""Emergency numbers: calls to them are never recorded unless the rules say otherwise."""

from __future__ import annotations

from functools import cache

import phonenumbers

from callvault.policy._files import read_data

__all__ = ["is_emergency_number"]

_SEPARATORS = str.maketrans("", "", " .()-")
_SHORT_MAX_DIGITS = 6  # longer strings without + are not short codes


@cache
def _lists() -> dict[str, frozenset[str]]:
    return {key: frozenset(numbers) for key, numbers in read_data("emergency.toml").items()}


def _in_country(national: str, country: str) -> bool:
    if national in _lists().get(country, frozenset()):
        return True
    return bool(phonenumbers.is_emergency_number(national, country))


def is_emergency_number(number: str) -> bool:
    """Whether `number` (E.164, or a bare short code such as "112") reaches an emergency service.

    "+49 112" is checked against Germany's numbers, "+1 911" against those of every NANP
    country; a bare short code against every country's list, since its country is unknown.
    """
    text = number.translate(_SEPARATORS)
    everywhere = _lists()["*"]
    if not text.startswith("+"):
        if not text.isdigit() or len(text) > _SHORT_MAX_DIGITS:
            return False
        return text in everywhere or any(text in numbers for numbers in _lists().values())
    digits = text[1:]
    if not digits.isdigit():
        return False
    # Country calling codes are prefix-free (ITU-T E.164 §6.2.1): at most one length fits.
    for length in (1, 2, 3):
        code = int(digits[:length]) if digits[:length] else 0
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions:
            national = digits[length:]
            return national in everywhere or any(_in_country(national, r) for r in regions)
    return False
