"""Reading a CRM export and normalising what it holds; messages never echo a value."""

from __future__ import annotations

import pytest

from callvault.contacts import (
    ContactInput,
    normalise_email,
    normalise_phone,
    parse_contacts_csv,
)
from callvault.errors import InputError


def test_rows_keep_their_line_numbers_and_skip_blank_lines() -> None:
    data = b"\xef\xbb\xbfPhone,NAME\n+14155550100,Jane\n\n,\n020 7183 8751,Sam\n"
    assert parse_contacts_csv(data, "crm.csv") == [
        (2, ContactInput(name="Jane", phone="+14155550100")),
        (5, ContactInput(name="Sam", phone="020 7183 8751")),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "crm.csv: is empty; the first line names the columns"),
        (b"name,phone\n\xff\n", "crm.csv: is not UTF-8 text; save the CSV as UTF-8"),
        (b"Jane,+14155550100\n", "crm.csv: line 1 must name the columns"),
        (b"name,fax\n", "crm.csv: unknown column(s) 'fax'; the columns are name, phone"),
        (b"name,Name\n", "crm.csv: column(s) name given twice"),
        (b"name,phone\nJane\n", "crm.csv, line 2: has 1 fields, the header has 2"),
    ],
)
def test_malformed_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_contacts_csv(data, "crm.csv")
    assert str(caught.value).startswith(message)
    assert "Jane" not in str(caught.value)


def test_numbers_and_addresses_are_normalised() -> None:
    assert normalise_phone("020 7183 8751", "gb") == "+442071838751"
    assert normalise_phone("+1 (415) 555-0100", None) == "+14155550100"
    assert normalise_email("  Jane@Example.COM ") == "jane@example.com"
    with pytest.raises(InputError, match=r"^row 3: phone is not a phone number; write it with \+"):
        normalise_phone("12", "US", field="row 3: phone")
    with pytest.raises(InputError, match=r"^email is not an e-mail address"):
        normalise_email("jane at example")
