"""The calls API against a real vault on both databases: sign-in, sessions with CSRF,
bearer tokens with scopes, per-call access (404 out of reach), audio with HTTP Range,
uploads and corrections."""

from __future__ import annotations

import dataclasses
import io
import wave
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from _audio import silent_flac, tone, wav_bytes, with_declared_frames
from _scripted_asr import CARD_CALL, EMAIL_CALL, ScriptedPipeline
from _stored import PASSWORD, add_people, agent_call
from callvault.accounts import Accounts
from callvault.api import create_app
from callvault.config import Config
from callvault.services import Context, process_call
from callvault.vault import Vault


@dataclasses.dataclass
class World:
    client: TestClient
    vault: Vault
    calls: dict[str, str]  # agent -> call id
    tokens: dict[str, str]  # username -> bearer secret

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    config = dataclasses.replace(config, workers=1)
    scopes = ["calls:read", "calls:write", "audio:read", "search", "compliance", "admin"]
    tokens = add_people(vault, scopes)
    calls = {
        agent: agent_call(vault, agent, seed)
        for seed, agent in enumerate(["alice", "bob", "carol"])
    }
    process_call(Context(config, vault), calls["alice"], pipeline=ScriptedPipeline(CARD_CALL))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
        yield World(client, vault, calls, tokens)


def test_sign_in_session_and_csrf(world: World) -> None:
    client = world.client
    assert client.get("/api/v1/auth/me").status_code == 401
    bad = client.post("/api/v1/auth/login", json={"username": "alice", "password": "nope"})
    assert bad.status_code == 401
    assert "nope" not in bad.text
    signed = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert signed.status_code == 200
    csrf = signed.json()["csrf_token"]
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = client.get("/api/v1/auth/me").json()
    assert me["user"]["username"] == "alice" and me["scopes"] is None
    # An unsafe request of a session needs its CSRF token.
    body = {"section": "actions", "index": 0, "field": "due", "value": "2026-03-06", "reason": "r"}
    call = world.calls["alice"]
    refused = client.post(f"/api/v1/calls/{call}/corrections", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    done = client.post(
        f"/api/v1/calls/{call}/corrections", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert done.status_code == 201, done.text
    (history,) = client.get(f"/api/v1/calls/{call}/corrections").json()["corrections"]
    # The due date as stored: resolved to the end of that working day, JSON-encoded.
    assert (history["new"], history["actor"], history["reason"]) == (
        '"2026-03-06T17:00:00+00:00"',
        "user:alice",
        "r",
    )
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).json() == {
        "ended": True
    }
    assert client.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("root", {"alice", "bob", "carol"}),
        ("cora", {"alice", "bob", "carol"}),
        ("mona", {"alice", "bob"}),
        ("alice", {"alice"}),
        ("carol", {"carol"}),
        ("otto", {"alice", "bob", "carol"}),
    ],
)
def test_each_role_lists_and_reads_only_its_calls(
    world: World, who: str, visible: set[str]
) -> None:
    listed = world.client.get("/api/v1/calls", headers=world.bearer(who)).json()
    assert {c["agent"] for c in listed["calls"]} == visible
    assert listed["total"] == len(visible)
    for agent, call_id in world.calls.items():
        got = world.client.get(f"/api/v1/calls/{call_id}", headers=world.bearer(who))
        if agent in visible:
            assert got.status_code == 200
        else:  # out of reach looks exactly like a call that does not exist
            assert got.status_code == 404
            missing = world.client.get("/api/v1/calls/" + "0" * 32, headers=world.bearer(who))
            assert got.json()["error"]["message"].replace(call_id, "X") == missing.json()["error"][
                "message"
            ].replace("0" * 32, "X")


def test_auditor_sees_metadata_only(world: World) -> None:
    call = world.calls["alice"]
    shown = world.client.get(f"/api/v1/calls/{call}", headers=world.bearer("otto")).json()
    assert shown["id"] == call and shown["transcript"] is None and shown["insights"] is None
    audio = world.client.get(f"/api/v1/calls/{call}/audio", headers=world.bearer("otto"))
    assert audio.status_code == 403
    full = world.client.get(f"/api/v1/calls/{call}", headers=world.bearer("alice")).json()
    assert full["transcript"]["utterances"][1]["text"] == "[CREDIT_CARD]"  # the answer, asked for


def test_audio_with_range_decrypts_what_is_asked(world: World) -> None:
    call = world.calls["alice"]
    headers = world.bearer("alice")
    whole = world.client.get(f"/api/v1/calls/{call}/audio", headers=headers)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.content[:4] == b"RIFF"
    part = world.client.get(
        f"/api/v1/calls/{call}/audio", headers={**headers, "Range": "bytes=1000-1999"}
    )
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole.content)}"
    assert part.content == whole.content[1000:2000]
    beyond = world.client.get(
        f"/api/v1/calls/{call}/audio",
        headers={**headers, "Range": f"bytes={len(whole.content)}-"},
    )
    assert beyond.status_code == 416
    listened = [e for e in world.vault.audit_entries() if e.action == "recording.listen"]
    assert {e.actor for e in listened} == {"user:alice"}


def test_token_scopes_limit_the_role(world: World) -> None:
    _, secret = Accounts(world.vault).create_token("alice", "read-only", ["calls:read"], 1)
    headers = {"Authorization": f"Bearer {secret}"}
    call = world.calls["alice"]
    assert world.client.get(f"/api/v1/calls/{call}", headers=headers).status_code == 200
    audio = world.client.get(f"/api/v1/calls/{call}/audio", headers=headers)
    assert audio.status_code == 403 and "audio:read" in audio.json()["error"]["message"]
    wrong = world.client.get("/api/v1/calls", headers={"Authorization": "Bearer cvt_nothing"})
    assert wrong.status_code == 401


def test_upload_by_a_rep_is_their_own_call(world: World) -> None:
    data = wav_bytes(tone(3.0, 16000, 2, seed=42), 16000)
    form = {
        "caller": "+14155550100",
        "callee": "+442071838750",
        "direction": "outbound",
        "consent": "pre-call-notice",
    }
    sent = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("bob"),
        data=form,
        files={"file": ("new.wav", data, "audio/wav")},
    )
    assert sent.status_code == 201, sent.text
    call_id = sent.json()["call_id"]
    assert world.vault.calls.call_agent(call_id) == "bob"
    other = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("bob"),
        data={**form, "agent": "carol"},
        files={"file": ("x.wav", data, "audio/wav")},
    )
    assert other.status_code == 403
    auditor = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("otto"),
        data=form,
        files={"file": ("x.wav", data, "audio/wav")},
    )
    assert auditor.status_code == 403
    junk = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("bob"),
        data=form,
        files={"file": ("x.wav", b"not audio at all", "audio/wav")},
    )
    assert junk.status_code == 415


def test_upload_with_channels_puts_the_agent_on_the_channel_named(world: World) -> None:
    # issue 16: an inbound call from a recorder that puts the agent on the left channel
    data = wav_bytes(tone(3.0, 16000, 2, seed=43), 16000)
    form = {
        "caller": "+14155550100",
        "direction": "inbound",
        "consent": "pre-call-notice",
        "channels": "agent,customer",
    }
    sent = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("bob"),
        data=form,
        files={"file": ("left.wav", data, "audio/wav")},
    )
    assert sent.status_code == 201, sent.text
    record = world.vault.calls.get_call(sent.json()["call_id"])
    parties = {p.id: (p.role, p.phone, p.name, p.is_agent) for p in record.participants}
    assert record.direction == "inbound"
    assert [(leg.channel, parties[leg.participant_id or ""]) for leg in record.legs] == [
        (0, ("callee", None, "bob", True)),
        (1, ("caller", "+14155550100", None, False)),
    ]


@pytest.mark.parametrize(
    ("form", "channels", "message"),
    [
        (
            {"direction": "inbound", "channels": "agent,agent"},
            2,
            "--channels 'agent,agent' is not a channel layout; give the role of each channel "
            "in order: agent,customer (the agent on channel 0) or customer,agent",
        ),
        (
            {"channels": "customer,agent"},
            2,
            "--channels needs --direction inbound or outbound, which says whether the agent "
            "is the caller or the callee; leave --channels out for an internal call or one "
            "of unknown direction",
        ),
        (
            {"direction": "outbound", "channels": "agent,customer"},
            1,
            "mono.wav: has 1 channel(s) but --channels gives the roles of 2; it fits a stereo "
            "file with one party per channel, so leave --channels out for this file",
        ),
    ],
)
def test_upload_with_bad_channels_stores_nothing(
    world: World, form: dict[str, str], channels: int, message: str
) -> None:
    before = len(world.vault.calls.list_calls())
    data = wav_bytes(tone(1.0, 16000, channels, seed=44), 16000)
    sent = world.client.post(
        "/api/v1/calls",
        headers=world.bearer("bob"),
        data={**form, "consent": "pre-call-notice"},
        files={"file": ("mono.wav", data, "audio/wav")},
    )
    assert sent.status_code == 400
    assert sent.json()["error"] == {"type": "InputError", "message": message}
    assert len(world.vault.calls.list_calls()) == before


@pytest.mark.parametrize("declared", [True, False], ids=["header", "no-length"])
def test_an_upload_longer_than_the_limit_is_413_and_stores_nothing(
    config: Config, declared: bool
) -> None:
    """Issue 17: an hour of silence is a few hundred kilobytes; a limit on bytes alone
    lets any rep queue hours of decoding."""
    limited = dataclasses.replace(config, max_duration=60.0, workers=1)
    data = silent_flac(3600)
    if not declared:
        data = with_declared_frames(data, 0)
    with Vault.open(limited) as vault:
        tokens = add_people(vault, ["calls:write"])
        app = create_app(limited, vault=vault)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            sent = client.post(
                "/api/v1/calls",
                headers={"Authorization": f"Bearer {tokens['bob']}"},
                data={"caller": "+14155550100", "consent": "pre-call-notice"},
                files={"file": ("hour.flac", data, "audio/flac")},
            )
        assert sent.status_code == 413, sent.text
        message = sent.json()["error"]["message"]
        assert sent.json()["error"]["type"] == "RecordingTooLong"
        # Refused from the header or while decoding, or from the length the probe
        # found: each names the file and the limit.
        assert message.startswith("hour.flac: ")
        assert message.endswith(
            "the limit of 0:01:00 (60 s, CALLVAULT_MAX_DURATION); split the recording or "
            "raise CALLVAULT_MAX_DURATION; nothing was stored"
        )
        assert vault.calls.list_calls() == []


def test_the_kept_original_opens_for_compliance_with_a_reason(world: World, config: Config) -> None:
    keep = dataclasses.replace(config, redaction_keep_original="unless-payment")
    call_id = agent_call(world.vault, "bob", 21)
    process_call(Context(keep, world.vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
    url = f"/api/v1/calls/{call_id}/original"
    got = world.client.get(url, params={"reason": "complaint 12"}, headers=world.bearer("cora"))
    assert got.status_code == 200 and got.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(got.content)) as wav:
        original = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    # The original, not what listeners hear: the e-mail address is audible in it.
    heard = world.client.get(f"/api/v1/calls/{call_id}/audio", headers=world.bearer("cora"))
    with wave.open(io.BytesIO(heard.content)) as wav:
        redacted = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(original, tone(9.0, 16000, 2, seed=21))
    assert not np.array_equal(original, redacted)
    entry = world.vault.audit_entries(action="original.read")[-1]
    assert (entry.actor, entry.purpose) == ("user:cora", "complaint 12")
    # No reason, no original; an admin never opens one; a card call keeps none.
    assert world.client.get(url, headers=world.bearer("cora")).status_code == 422
    admin = world.client.get(url, params={"reason": "x"}, headers=world.bearer("root"))
    assert admin.status_code == 403
    card = world.client.get(
        f"/api/v1/calls/{world.calls['alice']}/original",
        params={"reason": "x"},
        headers=world.bearer("cora"),
    )
    assert card.status_code == 404
    assert "never for payment card data" in card.json()["error"]["message"]
