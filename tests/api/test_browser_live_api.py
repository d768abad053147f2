"""The in-browser recorder's live session over HTTP, on both databases, with the real
engine (Whisper tiny.en): a signed-in browser starts a session and sends raw audio
chunks with its CSRF token (none: 403), only as application/octet-stream (else 415), at
most 32 KiB each; another user's chunk or a session another process started is 404 with
a message that says why; stop ends it and the call leaves the live board. (Who may call
what: the rows of `test_rbac_matrix`.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from _stored import PASSWORD, add_people
from callvault.api import CSRF_HEADER, create_app
from callvault.config import Config
from callvault.vault import Vault

API = "/api/v1/live"
AUDIO = {"Content-Type": "application/octet-stream"}

pytestmark = pytest.mark.slow


@pytest.fixture
def client(config: Config, vault: Vault) -> Iterator[TestClient]:
    add_people(vault)
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as opened:
        yield opened


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    """Sign `username` in (the client keeps the cookie); the CSRF header to send."""
    login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {CSRF_HEADER: login.json()["csrf_token"]}


def tone(seconds: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


def test_start_feed_stop_over_http(client: TestClient, vault: Vault) -> None:
    csrf = sign_in(client, "alice")
    assert client.post(f"{API}/browser").status_code == 403  # no CSRF token
    started = client.post(f"{API}/browser", headers=csrf)
    assert started.status_code == 201, started.text
    body = started.json()
    session, live_id = body["session"], body["live_call_id"]
    assert body["next_seq"] == 0 and body["stop_at"] is None and body["paused"] == []

    audio = f"{API}/browser/{session}/audio"
    fed = client.post(audio, params={"seq": 0}, content=tone(0.5), headers={**csrf, **AUDIO})
    assert fed.status_code == 200, fed.text
    assert (fed.json()["next_seq"], fed.json()["call_time"]) == (1, 0.5)
    # The chunk must carry the CSRF token, be audio, and be short.
    no_token = client.post(audio, params={"seq": 1}, content=tone(0.5), headers=AUDIO)
    assert no_token.status_code == 403
    as_json = client.post(
        audio, params={"seq": 1}, content=tone(0.5), headers={**csrf, "Content-Type": "text/plain"}
    )
    assert as_json.status_code == 415
    assert "application/octet-stream" in as_json.json()["error"]["message"]
    too_long = client.post(audio, params={"seq": 1}, content=tone(1.1), headers={**csrf, **AUDIO})
    assert too_long.status_code == 400
    assert "at most 32768 bytes" in too_long.json()["error"]["message"]
    assert client.post(audio, content=tone(0.5), headers={**csrf, **AUDIO}).status_code == 422
    # A session this process does not have: 404, saying that requests must stay on one.
    elsewhere = client.post(
        f"{API}/browser/bl_startedelsewhere/audio",
        params={"seq": 0},
        content=tone(0.5),
        headers={**csrf, **AUDIO},
    )
    assert elsewhere.status_code == 404
    assert "one process" in elsewhere.json()["error"]["message"]

    # Bob (same team) cannot feed alice's session; mona, her manager, sees it live.
    bob = sign_in(client, "bob")
    stolen = client.post(audio, params={"seq": 1}, content=tone(0.5), headers={**bob, **AUDIO})
    assert stolen.status_code == 404
    assert client.post(f"{API}/browser/{session}/stop", headers=bob).status_code == 404
    sign_in(client, "mona")
    (call,) = client.get(f"{API}/calls").json()["calls"]
    assert (call["id"], call["source"], call["agent"]) == (live_id, "browser", "alice")

    csrf = sign_in(client, "alice")
    stopped = client.post(f"{API}/browser/{session}/stop", headers=csrf)
    assert stopped.status_code == 200 and stopped.json()["ended"] is True
    after = client.post(audio, params={"seq": 1}, content=tone(0.5), headers={**csrf, **AUDIO})
    assert after.status_code == 404
    deadline = time.monotonic() + 30
    while client.get(f"{API}/calls/{live_id}").json()["ended_at"] is None:
        assert time.monotonic() < deadline, "the call never left the live board"
        time.sleep(0.1)
    assert [e.action for e in vault.audit_entries(action="live.open")] == ["live.open"]
