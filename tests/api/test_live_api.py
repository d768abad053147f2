"""The live board's API on both databases: calls and events as JSON, the SSE stream that
resumes from Last-Event-ID, acknowledging an alert (CSRF for a browser session), and the
metrics two app processes over one database agree on. (Who may call what: the rows of
`test_rbac_matrix`.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _stored import PASSWORD, add_people
from callvault.analysis.live import Alert, LiveEvent, LiveWord
from callvault.api import CSRF_HEADER, create_app
from callvault.config import Config
from callvault.services import Context, LiveBoard
from callvault.vault import Vault

API = "/api/v1/live"


def said(kind: str, text: str, at: float) -> LiveEvent:
    words = tuple(LiveWord(at - 0.5, at, w, 0.9) for w in text.split())
    return LiveEvent(kind, at, 1, "customer", text, words)  # type: ignore[arg-type]


def card_alert(at: float) -> LiveEvent:
    fired = Alert("card-data", "pii", 1, at, at - 2, "card number ****", 0.95, "critical")
    return LiveEvent("alert", at, 1, "customer", fired.text, alert=fired)


def messages(body: str) -> list[tuple[int, dict[str, Any]]]:
    """The (id, data) of each message of a text/event-stream body (WHATWG HTML 9.2.6)."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "data" in fields:
            found.append((int(fields["id"]), json.loads(fields["data"])))
    return found


@pytest.fixture
def tokens(vault: Vault) -> dict[str, str]:
    return add_people(vault, ["calls:read", "calls:write"])


@pytest.fixture
def client(config: Config, vault: Vault, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as opened:
        yield opened


def bearer(tokens: dict[str, str], username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[username]}"}


def test_calls_events_stream_and_ack(
    client: TestClient, vault: Vault, tokens: dict[str, str]
) -> None:
    board = LiveBoard(Context(vault.config, vault))
    live = board.open_call(source="siprec", roles={0: "agent", 1: "customer"}, agent="alice")
    board.publish(live, [said("partial", "my card", 3.0)])
    board.publish(live, [said("final", "my card number is", 4.0), card_alert(4.0)])
    mona = bearer(tokens, "mona")

    (call,) = client.get(f"{API}/calls", headers=mona).json()["calls"]
    assert (call["id"], call["agent"], call["team"], call["roles"]) == (
        live,
        "alice",
        "east",
        {"0": "agent", "1": "customer"},
    )
    (alert,) = call["alerts"]
    assert (alert["rule"], alert["text"], alert["confidence"]) == (
        "card-data",
        "card number ****",
        0.95,
    )

    page = client.get(f"{API}/calls/{live}/events", headers=mona).json()
    assert [e["kind"] for e in page["events"]] == ["open", "final", "alert"]
    final = page["events"][1]
    assert (final["speaker"], final["text"], final["channel"]) == (
        "customer",
        "my card number is",
        1,
    )
    assert final["words"][0] == {"start": 3.5, "end": 4.0, "text": "my", "confidence": 0.9}
    opened_at = page["events"][0]["seq"]
    later = client.get(f"{API}/calls/{live}/events", params={"after": opened_at}, headers=mona)
    assert [e["kind"] for e in later.json()["events"]] == ["final", "alert"]

    # The stream: every event with its number as the message id; the opening carries
    # the call; a reconnect with Last-Event-ID gets only what came after.
    with client.stream("GET", f"{API}/stream", params={"max_s": 0.5}, headers=mona) as got:
        assert got.headers["content-type"].startswith("text/event-stream")
        streamed = messages(got.read().decode())
    assert [data["kind"] for _, data in streamed] == ["open", "final", "alert"]
    assert [seq for seq, _ in streamed] == [e["seq"] for e in page["events"]]
    assert streamed[0][1]["call"]["id"] == live
    board.publish(live, [said("partial", "four two", 6.0)])
    last = str(streamed[-1][0])
    with client.stream(
        "GET", f"{API}/stream", params={"max_s": 0.5}, headers={**mona, "Last-Event-ID": last}
    ) as got:
        resumed = messages(got.read().decode())
    assert [(data["kind"], data["text"]) for _, data in resumed] == [("partial", "four two")]
    assert client.get(f"{API}/stream", headers={**mona, "Last-Event-ID": "x"}).status_code == 400

    # Acknowledged by the manager; a browser session needs its CSRF token for it.
    login = client.post("/api/v1/auth/login", json={"username": "cora", "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    refused = client.post(f"{API}/alerts/{alert['id']}/ack")
    assert refused.status_code == 403
    done = client.post(f"{API}/alerts/{alert['id']}/ack", headers={CSRF_HEADER: csrf})
    assert done.status_code == 200
    assert done.json()["acknowledged_by"] == "cora"
    (entry,) = vault.audit_entries(action="live.ack")
    assert entry.actor == "user:cora"


def test_metrics_agree_across_processes(config: Config, vault: Vault) -> None:
    """Two apps, each with its own storage over one database, as two `serve` processes."""
    board = LiveBoard(Context(config, vault))
    first = board.open_call(source="capture", roles={0: "agent"})
    second = board.open_call(source="capture", roles={0: "agent"})
    board.publish(first, [card_alert(1.0), card_alert(2.0)])
    board.publish(second, [LiveEvent("alert", 3.0, 0, None, "acme", alert=Alert(
        "competitor", "phrase", 0, 3.0, 2.5, "acme", 0.7))])  # fmt: skip
    board.close_call(second)
    with Vault.open(config) as other_vault:
        texts = []
        for storage in (vault, other_vault):
            with TestClient(create_app(config, vault=storage)) as client:
                texts.append(client.get("/metrics").text)
    for text in texts:
        assert "callvault_live_calls_active 1.0" in text
        assert 'callvault_live_alerts_total{rule="card-data"} 2.0' in text
        assert 'callvault_live_alerts_total{rule="competitor"} 1.0' in text
