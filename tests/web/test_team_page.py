"""The team page (issue 22) through the ASGI app: a manager sees their team's people and
not another team's, a suppressed group says why, an epsilon is stated, the charts are
SVG and the filters have labels; an auditor is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _teamdata import (
    PASSWORD,
    add_user,
    insights_doc,
    plain_utterances,
    store_analysed,
    store_call,
)
from callvault.api import create_app
from callvault.config import Config
from callvault.vault import Vault


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the service's tests run on both databases


@pytest.fixture
def client(config: Config, vault: Vault) -> Iterator[TestClient]:
    add_user(vault, "mona", "manager", "east")
    add_user(vault, "otto", "auditor", None)
    for n, (agent, team) in enumerate((("alice", "east"), ("bob", "east"), ("carol", "west"))):
        add_user(vault, agent, "rep", team)
        call_id = store_call(vault, agent, n + 1)
        store_analysed(vault, call_id, plain_utterances(agent), insights_doc(agent, sentiment=0.4))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as test:
        yield test


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_manager_sees_team_page(client: TestClient) -> None:
    login(client, "mona")
    page = client.get("/team")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert 'href="/team"' in html  # in the navigation
    assert "<td>alice</td>" in html and "<td>bob</td>" in html
    assert "<td>carol</td>" not in html  # another team's person
    assert "fewer than 5 agents: suppressed (k-anonymity, k=5)" in html  # the organisation
    assert html.count("<svg") == 2 and "<polyline" in html
    assert 'label for="f-eps"' in html
    noisy = client.get("/team", params={"epsilon": "1"}).text
    assert "ε 1 per figure" in noisy
    bad = client.get("/team", params={"epsilon": "lots"})
    assert bad.status_code == 400 and "is not a number" in bad.text


def test_auditor_is_refused(client: TestClient) -> None:
    login(client, "otto")
    assert client.get("/team").status_code == 403
    assert 'href="/team"' not in client.get("/").text
