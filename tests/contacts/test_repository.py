"""`Contacts(vault)`: the repository over the storage core's units of work, on SQLite and
PostgreSQL. Use cases on top of it: tests/services/test_contacts.py."""

from __future__ import annotations

import dataclasses

import pytest

from _audio import tone, wav_bytes
from callvault.capture import FileImportOptions, import_bytes
from callvault.contacts import ContactInput, Contacts
from callvault.errors import InputError, NotFound
from callvault.vault import Vault

CALLEE = "+442071838750"


def test_get_reads_one_contact_and_audits_the_read(vault: Vault) -> None:
    contacts = Contacts(vault)
    result = contacts.import_rows(
        [ContactInput(name=" Jane Roe ", phone="020 7183 8751", email="Jane@Example.COM")],
        region="gb",
        actor="user:root",
    )
    assert (result.rows, result.created, result.updated) == (1, 1, 0)
    (imported,) = vault.audit_entries(action="contacts.import")
    assert imported.actor == "user:root" and imported.object_id is None
    (found,) = contacts.find()
    got = contacts.get(found.id, actor="user:cora", purpose="support")
    assert got == found
    assert (got.name, got.phone, got.email) == ("Jane Roe", "+442071838751", "jane@example.com")
    read = vault.audit_entries(action="contacts.read", object_id=found.id)[-1]
    assert (read.actor, read.purpose, read.details) == ("user:cora", "support", {})
    with pytest.raises(NotFound, match=r"^contact nope does not exist; `callvault contacts list`"):
        contacts.get("nope")


def test_a_bad_row_writes_nothing(vault: Vault) -> None:
    contacts = Contacts(vault)
    rows = [ContactInput(name="Jane", phone="+14155550100"), ContactInput(name="Sam")]
    with pytest.raises(InputError, match=r"^row 2: has no crm_id, phone or email"):
        contacts.import_rows(rows)
    assert contacts.find() == []
    assert vault.audit_entries(action="contacts.import") == []


def test_call_matches_maps_each_participant_to_its_contacts(vault: Vault) -> None:
    contacts = Contacts(vault)
    contacts.import_rows(
        [
            ContactInput(name="Jane Roe", phone="+14155550100", crm_id="c-1"),
            ContactInput(name="Front Desk", phone="+14155550100", crm_id="c-2"),
            ContactInput(name="Sam Lee", email="sam@example.com"),
        ]
    )
    by_name = {c.name: c.id for c in contacts.find()}
    opts = FileImportOptions(caller="+14155550100", callee=CALLEE, agent="alice")
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, 1), 8000), "c.wav", opts)
    caller, callee = call.participants
    call = dataclasses.replace(
        call, participants=(caller, dataclasses.replace(callee, phone=None, name="SAM LEE"))
    )
    call_id = vault.calls.store_call(call).call_id
    record = vault.calls.get_call(call_id)
    matches = contacts.call_matches(call_id, purpose="crm sync")
    assert {p.role: matches[p.id] for p in record.participants} == {
        caller.role: tuple(sorted([by_name["Jane Roe"], by_name["Front Desk"]])),
        callee.role: (by_name["Sam Lee"],),
    }
    entry = vault.audit_entries(action="contacts.read", object_id=call_id)[-1]
    assert entry.details == {"contacts": sorted(by_name.values())}
    with pytest.raises(NotFound, match=r"^call nope does not exist; `callvault list`"):
        contacts.call_matches("nope")
