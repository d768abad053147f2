"""Administration through the API, on both databases: users, tokens, policy check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_rbac_matrix import PASSWORD, World, build_world, serving

from callvault.config import Config
from callvault.vault import Vault

API = "/api/v1"


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault, process=())) as built:
        yield built


def test_users_list_add_and_change(world: World) -> None:
    root = world.bearer("root")
    listed = world.client.get(f"{API}/users", headers=root).json()["users"]
    assert {u["username"] for u in listed} == {
        "root", "cora", "mona", "alice", "bob", "carol", "otto"
    }  # fmt: skip
    assert all("password" not in str(u) for u in listed)
    body = {"username": "dave", "password": PASSWORD, "role": "rep", "team": "west"}
    added = world.client.post(f"{API}/users", json=body, headers=root)
    assert added.status_code == 201 and added.json()["team"] == "west"
    again = world.client.post(f"{API}/users", json=body, headers=root)
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "user dave exists already; choose another username"
    assert PASSWORD not in again.text
    teamless = world.client.post(
        f"{API}/users",
        json={**body, "username": "erin", "role": "manager", "team": None},
        headers=root,
    )
    assert teamless.status_code == 400

    moved = world.client.patch(f"{API}/users/dave", json={"team": "east"}, headers=root)
    assert moved.status_code == 200 and moved.json()["role"] == "rep"
    assert moved.json()["team"] == "east"
    promoted = world.client.patch(f"{API}/users/dave", json={"role": "manager"}, headers=root)
    assert (promoted.json()["role"], promoted.json()["team"]) == ("manager", "east")
    last_admin = world.client.patch(f"{API}/users/root", json={"role": "rep"}, headers=root)
    assert last_admin.status_code == 400
    assert "last active admin" in last_admin.json()["error"]["message"]
    missing = world.client.patch(f"{API}/users/nobody", json={"team": "x"}, headers=root)
    assert missing.status_code == 404

    # Disabling a user ends what they could do with their tokens.
    carol = world.bearer("carol")
    assert world.client.get(f"{API}/auth/me", headers=carol).status_code == 200
    off = world.client.patch(f"{API}/users/carol", json={"disabled": True}, headers=root)
    assert off.status_code == 200 and off.json()["disabled_at"] is not None
    assert world.client.get(f"{API}/auth/me", headers=carol).status_code == 401
    back = world.client.patch(f"{API}/users/carol", json={"disabled": False}, headers=root)
    assert back.status_code == 400

    assert world.client.get(f"{API}/users", headers=world.bearer("cora")).status_code == 403


def test_tokens_are_created_once_and_revoked(world: World) -> None:
    root = world.bearer("root")
    made = world.client.post(
        f"{API}/users/bob/tokens", json={"name": "ci", "scopes": ["calls:read"]}, headers=root
    )
    assert made.status_code == 201, made.text
    secret, token = made.json()["secret"], made.json()["token"]
    assert secret.startswith("cvt_") and token["scopes"] == ["calls:read"]
    bob = {"Authorization": f"Bearer {secret}"}
    me = world.client.get(f"{API}/auth/me", headers=bob).json()
    assert me["user"]["username"] == "bob" and me["scopes"] == ["calls:read"]
    listed = world.client.get(f"{API}/users", headers=root).text
    assert secret not in listed
    revoked = world.client.delete(f"{API}/tokens/{token['id']}", headers=root)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert world.client.get(f"{API}/auth/me", headers=bob).status_code == 401
    unknown = world.client.post(
        f"{API}/users/bob/tokens", json={"name": "x", "scopes": ["everything"]}, headers=root
    )
    assert unknown.status_code == 400 and "everything" in unknown.json()["error"]["message"]
    too_long = world.client.post(
        f"{API}/users/bob/tokens",
        json={"name": "x", "scopes": ["search"], "expires_in_days": 400},
        headers=root,
    )
    assert too_long.status_code == 422


def test_policy_check(world: World) -> None:
    question = {"participants": ["+14155550100", "+442071838750"], "direction": "outbound"}
    cora = world.bearer("cora")
    unnamed = world.client.post(f"{API}/policy/check", json=question, headers=cora)
    assert unnamed.status_code == 400
    assert "CALLVAULT_ORGANISATION" in unnamed.json()["error"]["message"]
    answer = world.client.post(
        f"{API}/policy/check", json={**question, "organisation": "Example Ltd"}, headers=cora
    )
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert (decision["record"], decision["consent"]) == (True, "all-party")
    assert [j["key"] for j in decision["jurisdictions"]] == ["US-CA", "GB"]
    bad = world.client.post(
        f"{API}/policy/check",
        json={"participants": ["not a number"], "organisation": "X"},
        headers=cora,
    )
    assert bad.status_code == 400
    assert (
        world.client.post(
            f"{API}/policy/check", json=question, headers=world.bearer("mona")
        ).status_code
        == 403
    )
