"""The scorecard API on both databases: read as insights are read, override as insights
are corrected, a call out of reach answers 404 (another team's manager)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _scripted_asr import CARD_CALL, ScriptedPipeline
from _stored import add_people, agent_call
from callvault.api import create_app
from callvault.config import Config
from callvault.services import Context, process_call
from callvault.vault import Vault


@dataclasses.dataclass
class World:
    client: TestClient
    calls: dict[str, str]
    tokens: dict[str, str]

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    config = dataclasses.replace(config, workers=1)
    tokens = add_people(vault, ["calls:read", "calls:write", "compliance", "admin"])
    calls = {agent: agent_call(vault, agent, seed) for seed, agent in enumerate(["alice", "carol"])}
    process_call(Context(config, vault), calls["alice"], pipeline=ScriptedPipeline(CARD_CALL))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
        yield World(client, calls, tokens)


def test_read_override_and_reach(world: World, config: Config, vault: Vault) -> None:
    client, call = world.client, world.calls["alice"]
    url = f"/api/v1/calls/{call}/scorecard"
    got = client.get(url, headers=world.bearer("mona"))
    assert got.status_code == 200, got.text
    card = got.json()
    assert card["rubric"] == "default" and card["scale"] == [1, 5]
    questions = {q["id"]: q for s in card["sections"] for q in s["questions"]}
    assert questions["agreed-next-steps"]["score"] == 5
    assert questions["acknowledged"]["score"] is None
    lines = {e["utterance"]: e for e in card["evidence"]}
    assert lines[2]["text"] == "I will send the receipt tomorrow"

    body = {"question": "agreed-next-steps", "score": 3, "reason": "no date agreed"}
    # The auditor reads calls but may not correct insights; another team's manager and
    # rep do not see the call at all.
    assert (
        client.post(f"{url}/overrides", json=body, headers=world.bearer("otto")).status_code == 403
    )
    # Mona manages team east (alice's): she may; a manager of west would get 404.
    done = client.post(f"{url}/overrides", json=body, headers=world.bearer("mona"))
    assert done.status_code == 201, done.text
    assert done.json()["old"] == 5 and done.json()["actor"] == "user:mona"
    again = client.get(url, headers=world.bearer("alice")).json()
    (entry,) = again["history"]
    assert (entry["new"], entry["reason"]) == (3, "no date agreed")
    questions = {q["id"]: q for s in again["sections"] for q in s["questions"]}
    assert questions["agreed-next-steps"]["overridden"] is True

    assert client.get(url, headers=world.bearer("carol")).status_code == 404
    west = f"/api/v1/calls/{world.calls['carol']}/scorecard"
    assert client.get(west, headers=world.bearer("mona")).status_code == 404
    # carol's call was never processed: scored nothing, so 404 for whoever may read it.
    missing = client.get(west, headers=world.bearer("root"))
    assert missing.status_code == 404 and "has no scorecard yet" in missing.text
    bad = client.post(f"{url}/overrides", json={**body, "score": 7}, headers=world.bearer("root"))
    assert bad.status_code in (400, 422) and "outside the scale" in bad.text
