"""The scorecard panel of the call page: scores, evidence linked to the moment, the
override form for the roles that may correct insights, and the history."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _context import as_context
from _scripted_asr import CARD_CALL, ScriptedPipeline
from _stored import PASSWORD, add_people, agent_call
from callvault.api import create_app
from callvault.config import Config
from callvault.services import process_call
from callvault.vault import Vault


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the service tests run both databases


@pytest.fixture
def site(config: Config, vault: Vault) -> Iterator[tuple[TestClient, str]]:
    add_people(vault)
    call_id = agent_call(vault, "alice", 1)
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
        yield client, call_id


def login(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/upload").text)
    return found.group(1) if found else ""


def test_panel_override_and_history(site: tuple[TestClient, str]) -> None:
    client, call_id = site
    csrf = login(client, "alice")
    html = client.get(f"/calls/{call_id}").text
    assert 'id="scorecard"' in html and "Rubric default v1" in html
    assert re.search(r'<a href="#t=5\.8">[^<]+</a> alice: I will send the receipt tomorrow', html)
    assert "not enough evidence" in html
    assert f'action="/calls/{call_id}/scorecard/overrides"' in html
    body = {"question": "agreed-next-steps", "score": "2", "reason": "no date"}
    refused = client.post(f"/calls/{call_id}/scorecard/overrides", data=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    done = client.post(
        f"/calls/{call_id}/scorecard/overrides",
        data={**body, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/calls/{call_id}#scorecard"
    html = client.get(f"/calls/{call_id}").text
    assert "(overridden; rules gave 5)" in html
    assert "agreed-next-steps: 5 → 2 by user:alice" in html and "no date" in html
    # The auditor reads the call's metadata only: no scorecard, no form.
    login(client, "otto")
    html = client.get(f"/calls/{call_id}").text
    assert 'id="scorecard"' not in html and "scorecard/overrides" not in html
    # Carol (another team) may not override: the call does not exist for her.
    csrf = login(client, "carol")
    other = client.post(f"/calls/{call_id}/scorecard/overrides", data={**body, "csrf_token": csrf})
    assert other.status_code == 404
    # Signed out, the form's target sends the browser to sign in (a page route, not an
    # API operation: it is not in the OpenAPI schema).
    client.cookies.clear()
    signed_out = client.post(
        f"/calls/{call_id}/scorecard/overrides", data=body, follow_redirects=False
    )
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith("/calls/") for p in paths)
