"""Contacts from a CRM export, the calls their participants match, and the history of a
contact or an account. Metadata only: nothing here decrypts audio.

`Contacts(vault)` reads and writes them through the storage core's units of work; the
records are frozen dataclasses; `parse_contacts_csv` reads a CRM export.
"""

from callvault.contacts import _models  # noqa: F401  (declares the contacts table on Base)
from callvault.contacts._checks import FIELD_LIMITS, normalise_email, normalise_phone
from callvault.contacts._csv import CSV_COLUMNS, parse_contacts_csv
from callvault.contacts._records import ContactCall, ContactInput, ContactRecord, ImportResult
from callvault.contacts._repository import Contacts

__all__ = [
    "CSV_COLUMNS",
    "FIELD_LIMITS",
    "ContactCall",
    "ContactInput",
    "ContactRecord",
    "Contacts",
    "ImportResult",
    "normalise_email",
    "normalise_phone",
    "parse_contacts_csv",
]
