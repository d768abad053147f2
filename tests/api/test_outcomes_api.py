"""Outcomes over the API (issue 22): the CRM webhook path (`POST /outcomes` with a token
that holds only `outcomes:write`), a call's prediction and the deal warnings; on both
databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_rbac_matrix import World, build_world, serving

from _outcome_model import store_synthetic_model
from callvault.accounts import Accounts
from callvault.config import Config
from callvault.vault import Vault

API = "/api/v1"


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault, process=("alice", "carol"))) as built:
        yield built


def token(world: World, username: str, scopes: list[str]) -> dict[str, str]:
    secret = Accounts(world.vault).create_token(username, "crm", scopes, 1)[1]
    return {"Authorization": f"Bearer {secret}"}


def test_the_crm_webhook_path_needs_only_outcomes_write(world: World) -> None:
    crm = token(world, "root", ["outcomes:write"])
    body = {"deal": "D-42", "outcome": "won", "source": "crm", "note": "closed"}
    got = world.client.post(f"{API}/outcomes", json=body, headers=crm)
    assert got.status_code == 201, got.text
    created = got.json()
    assert (created["deal"], created["outcome"], created["source"]) == ("D-42", "won", "crm")
    assert created["recorded_by"] == "user:root"
    on_call = {"call_id": world.calls["alice"], "outcome": "lost", "source": "crm"}
    assert world.client.post(f"{API}/outcomes", json=on_call, headers=crm).status_code == 201
    (entry, _) = world.vault.audit_entries(action="outcome.record")
    assert entry.object_id == created["id"] and "closed" not in str(entry.details)

    # A token without the scope, a bad outcome, nothing to attach it to.
    reader = token(world, "root", ["calls:read"])
    refused = world.client.post(f"{API}/outcomes", json=body, headers=reader)
    assert refused.status_code == 403 and "outcomes:write" in refused.text
    bad = world.client.post(f"{API}/outcomes", json=body | {"outcome": "meh"}, headers=crm)
    assert bad.status_code == 422
    empty = world.client.post(f"{API}/outcomes", json={"outcome": "won"}, headers=crm)
    assert empty.status_code == 400
    assert "needs a call id, a contact id or a deal" in empty.text
    # The manager of team east reaches bob's call, not carol's (west): it looks absent.
    manager = token(world, "mona", ["outcomes:write"])
    west = {"call_id": world.calls["carol"], "outcome": "won"}
    assert world.client.post(f"{API}/outcomes", json=west, headers=manager).status_code == 404


def test_prediction_and_warnings(world: World) -> None:
    root = world.bearer("root")
    path = f"{API}/calls/{world.calls['alice']}/prediction"
    missing = world.client.get(path, headers=root)
    assert missing.status_code == 404 and "predict train" in missing.text
    store_synthetic_model(world.vault)
    got = world.client.get(path, headers=root)
    assert got.status_code == 200, got.text
    body = got.json()
    assert 0 <= body["probability"] <= 1 and body["confidence_method"] == "fold-spread"
    # bob's call was not processed: no insights to predict from.
    unprocessed = world.client.get(f"{API}/calls/{world.calls['bob']}/prediction", headers=root)
    assert unprocessed.status_code == 404 and "no insights" in unprocessed.text
    open_deal = {"call_id": world.calls["alice"], "deal": "D-1", "outcome": "open"}
    assert world.client.post(f"{API}/outcomes", json=open_deal, headers=root).status_code == 201
    warned = world.client.get(f"{API}/predict/warnings", params={"threshold": 1}, headers=root)
    assert warned.status_code == 200
    assert [(w["kind"], w["id"], w["call_ids"]) for w in warned.json()["warnings"]] == [
        ("deal", "D-1", [world.calls["alice"]])
    ]
    none = world.client.get(f"{API}/predict/warnings", params={"threshold": 0}, headers=root)
    assert none.json() == {"warnings": []}
