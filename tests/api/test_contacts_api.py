"""Contacts over the API: the list, and a timeline that holds only the calls the caller
may read, with summaries where their role reads insights; on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_rbac_matrix import World, build_world, serving

from callvault.config import Config
from callvault.contacts import ContactInput, Contacts
from callvault.vault import Vault

API = "/api/v1"


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault, process=("alice",))) as built:
        yield built


def _customer(world: World) -> str:
    # Every call of the world has +14155550100 as its caller.
    Contacts(world.vault).import_rows(
        [ContactInput(name="Jane Roe", phone="+14155550100", account="Acme", crm_id="c-1")]
    )
    (contact,) = Contacts(world.vault).find(query="Jane")
    return contact.id


def test_a_timeline_shows_only_the_calls_in_reach(world: World) -> None:
    contact_id = _customer(world)
    seen = {}
    for user in ("root", "mona", "alice", "otto"):
        got = world.client.get(f"{API}/contacts/{contact_id}", headers=world.bearer(user))
        assert got.status_code == 200, got.text
        seen[user] = got.json()
    assert seen["root"]["contact"]["name"] == "Jane Roe"
    agents = {user: sorted(c["agent"] for c in t["calls"]) for user, t in seen.items()}
    assert agents == {
        "root": ["alice", "bob", "carol"],
        "mona": ["alice", "bob"],
        "alice": ["alice"],
        "otto": ["alice", "bob", "carol"],
    }
    # The scripted call was processed: a rep reads her call's summary, the auditor none.
    (own,) = seen["alice"]["calls"]
    assert own["summary"] and own["action_items"] is not None
    assert all(c["summary"] is None for c in seen["otto"]["calls"])
    listed = world.client.get(
        f"{API}/contacts", params={"account": "Acme"}, headers=world.bearer("alice")
    )
    assert [c["id"] for c in listed.json()["contacts"]] == [contact_id]
    missing = world.client.get(f"{API}/contacts/nope", headers=world.bearer("alice"))
    assert missing.status_code == 404
    assert {e.actor for e in world.vault.audit_entries(action="contacts.read")} >= {
        "user:alice",
        "user:otto",
    }


def test_contacts_import_from_an_uploaded_csv(world: World) -> None:
    root = world.bearer("root")
    csv_text = (
        "Name,Phone,Email,Account,CRM_ID\nJane Roe,(415) 555-0100,jane@acme.example,Acme,c-1\n"
    )
    got = world.client.post(
        f"{API}/contacts/import",
        files={"file": ("crm.csv", csv_text.encode(), "text/csv")},
        headers=root,
    )
    assert got.status_code == 200, got.text
    assert got.json()["created"] == 1
    (contact,) = Contacts(world.vault).find(query="Jane")
    assert contact.phone == "+14155550100"
    timeline = world.client.get(f"{API}/contacts/{contact.id}", headers=root).json()
    assert len(timeline["calls"]) == 3  # matched to the world's calls by number
    bad = world.client.post(
        f"{API}/contacts/import",
        files={"file": ("crm.csv", b"name,phone\nSam,not a number\n", "text/csv")},
        headers=root,
    )
    assert bad.status_code == 400
    message = bad.json()["error"]["message"]
    assert message.startswith("crm.csv, line 2: ") and "not a number" not in message
    assert len(Contacts(world.vault).find()) == 1  # all or nothing
