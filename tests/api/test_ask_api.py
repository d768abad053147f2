"""POST /api/v1/ask on both databases: each role's answer quotes only the calls it may
read, a quote says where the moment is (call, utterance, start), the auditor is refused
and a bad body names its field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _asked import DOG_CALL, asked_world
from callvault.api import create_app
from callvault.config import Config
from callvault.search import NOTHING_FOUND
from callvault.vault import Vault

SCOPES = ["calls:read", "search"]


@pytest.fixture
def served(
    config: Config, vault: Vault
) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    calls, tokens = asked_world(config, vault, SCOPES)
    with TestClient(create_app(config, vault=vault)) as client:
        yield client, calls, tokens


def _ask(client: TestClient, token: str, **body: Any) -> Any:
    return client.post("/api/v1/ask", json=body, headers={"Authorization": f"Bearer {token}"})


def test_answers_quote_only_calls_in_reach(
    served: tuple[TestClient, dict[str, str], dict[str, str]], vault: Vault
) -> None:
    client, calls, tokens = served
    question = "what breed is the customer's dog"
    root = _ask(client, tokens["root"], question=question, limit=2)
    assert root.status_code == 200, root.text
    document = root.json()
    assert set(document) == {"answer", "method", "confidence", "note", "quotes"}
    quote = document["quotes"][0]
    assert quote["call_id"] == calls["carol"] and quote["utterance"] == 1
    assert quote["text"] == DOG_CALL[1].text and quote["start"] == pytest.approx(1.6)
    assert document["method"] == "extractive" and len(document["quotes"]) <= 2
    for who in ("mona", "alice"):
        got = _ask(client, tokens[who], question=question).json()
        assert got["answer"] == NOTHING_FOUND and got["quotes"] == []
        assert "retriever" not in str(got)
    entry = [e for e in vault.audit_entries() if e.action == "transcript.ask"][-1]
    assert entry.actor == "user:alice" and "breed" not in str(entry.to_dict())


def test_refusals_and_bad_bodies(served: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, _calls, tokens = served
    refused = _ask(client, tokens["otto"], question="dog")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "the auditor role may not search"
    empty = _ask(client, tokens["root"], question="")
    assert empty.status_code in (400, 422)
    assert "question" in empty.text
    extra = _ask(client, tokens["root"], question="dog", wat=1)
    assert extra.status_code in (400, 422) and "wat" in extra.text
    naive = _ask(client, tokens["root"], question="dog", since="2026-03-03T00:00:00")
    assert naive.status_code == 400 and "naive" in naive.json()["error"]["message"]
    assert client.post("/api/v1/ask", json={"question": "dog"}).status_code == 401
