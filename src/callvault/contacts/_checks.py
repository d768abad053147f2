"""Checking and normalising what an import brings: E.164 numbers, lower-cased e-mail
addresses, column widths. Messages name the field, never the value."""

from __future__ import annotations

import re

import phonenumbers

from callvault.contacts._records import ContactInput
from callvault.errors import InputError

__all__ = ["FIELD_LIMITS", "checked_input", "normalise_email", "normalise_phone"]

# Column widths, checked before a row is written (a message names the field, never the value).
FIELD_LIMITS = {"name": 256, "phone": 32, "email": 320, "account": 256, "crm_id": 128}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def normalise_phone(value: str, region: str | None, *, field: str = "phone") -> str:
    """`value` as E.164; `region` (ISO 3166 alpha-2) for numbers written without +.
    The error names `field`, never the number."""
    problem = (
        f"{field} is not a phone number; write it with + and the country code (for example "
        "+442071234567) or give the region of national numbers (--region)"
    )
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        raise InputError(problem) from None
    if not phonenumbers.is_possible_number(number):
        raise InputError(problem)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, *, field: str = "email") -> str:
    """`value` stripped and lower-cased; the error names `field`, never the address."""
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InputError(f"{field} is not an e-mail address (name@example.com)")
    return email


def _clean(value: str | None, field: str, where: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > FIELD_LIMITS[field]:
        raise InputError(f"{where}{field} is longer than {FIELD_LIMITS[field]} characters")
    return value


def checked_input(row: ContactInput, where: str, region: str | None) -> ContactInput:
    """`row` stripped (empty fields None), its number E.164 and its address lower case;
    InputError, prefixed with `where`, when a field is too long or malformed or when the
    row has nothing to match it by."""
    name = _clean(row.name, "name", where)
    phone = _clean(row.phone, "phone", where)
    email = _clean(row.email, "email", where)
    crm_id = _clean(row.crm_id, "crm_id", where)
    if phone is not None:
        phone = normalise_phone(phone, region, field=f"{where}phone")
    if email is not None:
        email = normalise_email(email, field=f"{where}email")
    if phone is None and email is None and crm_id is None:
        raise InputError(
            f"{where}has no crm_id, phone or email: a contact needs one of them to be matched"
        )
    return ContactInput(name, phone, email, _clean(row.account, "account", where), crm_id)
