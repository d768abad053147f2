"""`GET /api/v1/team` (issue 22) on both databases: a rep sees their own figures and
k-anonymous groups, a manager their team's persons, an epsilon is stated with noise,
an auditor is refused, bad values are 422."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _teamdata import add_user, insights_doc, plain_utterances, store_analysed, store_call
from callvault.accounts import Accounts
from callvault.api import create_app
from callvault.config import Config
from callvault.vault import Vault

PEOPLE = {
    "mona": ("manager", "east"),
    "otto": ("auditor", None),
    "alice": ("rep", "east"),
    "bob": ("rep", "east"),
    "dan": ("rep", "east"),
    "carol": ("rep", "west"),
}


@pytest.fixture
def client(config: Config, vault: Vault) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {}
    for n, (name, (role, team)) in enumerate(PEOPLE.items()):
        add_user(vault, name, role, team)
        tokens[name] = Accounts(vault).create_token(name, "t", ["calls:read"], 1)[1]
        if role == "rep":
            call_id = store_call(vault, name, n + 1)
            store_analysed(vault, call_id, plain_utterances(name), insights_doc(name))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as test:
        yield test, tokens


def get(client: tuple[TestClient, dict[str, str]], who: str, **params: object):  # type: ignore[no-untyped-def]
    test, tokens = client
    return test.get(
        "/api/v1/team", params=params, headers={"Authorization": f"Bearer {tokens[who]}"}
    )


def test_each_role_sees_what_it_may(client: tuple[TestClient, dict[str, str]]) -> None:
    rep = get(client, "alice", k=3)
    assert rep.status_code == 200, rep.text
    body = rep.json()
    assert [p["name"] for p in body["persons"]] == ["alice"]
    groups = {g["name"]: g for g in body["groups"]}
    assert groups["organisation"]["calls"]["value"] == 4  # 4 agents >= k = 3
    assert groups["west"]["suppressed"] == "fewer than 3 agents: suppressed (k-anonymity, k=3)"
    assert groups["west"]["calls"]["value"] is None

    manager = get(client, "mona").json()  # k = 5 by default
    assert [p["name"] for p in manager["persons"]] == ["alice", "bob", "dan"]
    groups = {g["name"]: g for g in manager["groups"]}
    assert groups["organisation"]["suppressed"] is not None
    assert groups["east"]["visible"] and groups["east"]["calls"]["value"] == 3

    noisy = get(client, "mona", k=3, epsilon=0.5).json()
    org = next(g for g in noisy["groups"] if g["name"] == "organisation")
    assert org["calls"]["mechanism"] == "geometric" and org["calls"]["epsilon"] == 0.5
    assert noisy["epsilon"] == 0.5 and noisy["epsilon_spent"] == pytest.approx(org["epsilon"])
    assert noisy["epsilon_spent"] > 0


def test_refusals(client: tuple[TestClient, dict[str, str]]) -> None:
    assert get(client, "otto").status_code == 403
    assert get(client, "alice", epsilon=0).status_code == 422
    assert get(client, "alice", k=0).status_code == 422
    missing = get(client, "alice", team="north")
    assert missing.status_code == 400 and "has no members" in missing.text
