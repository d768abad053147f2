"""Two `callvault serve` processes behind one (imagined) load balancer, on one PostgreSQL
database and one data directory (issue 19): whichever process answers, a browser session,
its CSRF token, the sign-in throttle and a job's progress stream work the same, and a job
both processes' workers can see runs once.

On PostgreSQL the data directory holds only the keys and the upload spool: sessions,
CSRF token hashes, throttle counters, jobs and their progress are rows of the database,
which is what lets any process answer any request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_server import _free_port

from _audio import tone, wav_bytes
from _stored import PASSWORD, add_people
from callvault.config import Config
from callvault.services import open_queue
from callvault.vault import Vault

pytestmark = [
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
    pytest.mark.slow,  # two servers start per test, and a real transcription runs
]

API = "/api/v1"


def _start(config: Config, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_MODEL_CACHE": str(tmp_path / "models"),
        "CALLVAULT_WORKERS": "1",
        # A throttled sign-in waits long enough that the test never sees it run out.
        "CALLVAULT_LOGIN_BACKOFF_BASE": "300",
    }
    command = [sys.executable, "-m", "callvault", "serve", "--port", str(port)]
    with open(tmp_path / f"serve-{name}.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stderr=log)
    return process, f"http://127.0.0.1:{port}"


def _wait_up(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "callvault serve did not start"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def servers(config: Config, vault: Vault, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The base URLs of two serve processes (A, B), with job workers, on one database."""
    add_people(vault)
    with ExitStack() as stack:
        bases = []
        for name in ("a", "b"):
            process, base = _start(config, tmp_path, name)
            stack.callback(_stop, process)
            bases.append((process, base, tmp_path / f"serve-{name}.log"))
        for process, base, log in bases:
            _wait_up(process, base, log)
        yield bases[0][1], bases[1][1]


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post(f"{API}/auth/login", json={"username": username, "password": password})


def test_a_session_made_on_a_works_on_b(servers: tuple[str, str]) -> None:
    a_url, b_url = servers
    with httpx.Client(base_url=a_url) as a, httpx.Client(base_url=b_url) as b:
        signed = _login(a, "alice", PASSWORD)
        assert signed.status_code == 200
        csrf = signed.json()["csrf_token"]
        b.cookies = a.cookies  # what the browser sends to whichever process answers
        me = b.get(f"{API}/auth/me")
        assert me.status_code == 200 and me.json()["user"]["username"] == "alice"
        # A state-changing request on B: a wrong CSRF token is refused, A's is accepted.
        wrong = b.post(f"{API}/auth/logout", headers={"X-CSRF-Token": "not-the-token"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["message"] == (
            "the CSRF token is missing or wrong; reload the page"
        )
        assert a.get(f"{API}/auth/me").status_code == 200  # still signed in
        out = b.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200
        # Ended on B is ended on A.
        assert a.get(f"{API}/auth/me").status_code == 401


def test_failed_sign_ins_on_a_and_b_reach_one_throttle(
    servers: tuple[str, str], config: Config
) -> None:
    a_url, b_url = servers
    with httpx.Client(base_url=a_url) as a, httpx.Client(base_url=b_url) as b:
        for n in range(config.login_throttle_after):
            answered = _login((a, b)[n % 2], "bob", "wrong password!")
            assert answered.status_code == 401, answered.text
        for client in (a, b):
            refused = _login(client, "bob", PASSWORD)
            assert refused.status_code == 429, refused.text
            assert 290 <= int(refused.headers["Retry-After"]) <= 300
        # Another account is not throttled by bob's failures.
        assert _login(b, "carol", PASSWORD).status_code == 200


def _events(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a job's event stream, read until it ends."""
    found = []
    with client.stream("GET", f"{API}/jobs/{job_id}/events", timeout=300) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event is not None:
                found.append((event, json.loads(line[6:])))
    return found


def test_an_upload_on_a_is_followed_on_b_and_processed_once(
    servers: tuple[str, str], config: Config, vault: Vault
) -> None:
    a_url, b_url = servers
    form = {
        "caller": "+14155550100",
        "callee": "+442071838750",
        "direction": "outbound",
        "consent": "pre-call-notice",
        "language": "en",
    }
    jobs = []
    with httpx.Client(base_url=a_url, timeout=120) as a, httpx.Client(base_url=b_url) as b:
        csrf = _login(a, "alice", PASSWORD).json()["csrf_token"]
        b.cookies = a.cookies
        # Two uploads, one on each process, so both processes' workers see queued jobs.
        for seed, client in ((1, a), (2, b)):
            data = wav_bytes(tone(3.0, 16000, 2, seed=seed), 16000)
            sent = client.post(
                f"{API}/calls",
                headers={"X-CSRF-Token": csrf},
                data=form,
                files={"file": (f"call-{seed}.wav", data, "audio/wav")},
            )
            assert sent.status_code == 201, sent.text
            jobs.append((sent.json()["job_id"], sent.json()["recording_id"]))
        events = _events(b, jobs[0][0])
        assert events[-1][0] == "done" and events[-1][1]["status"] == "succeeded", events
        assert [e for e, _ in events[:-1]] == ["progress"] * (len(events) - 1)
        assert len(events) >= 2
        for job_id, _recording in jobs[1:]:
            assert _events(a, job_id)[-1][1]["status"] == "succeeded"
    # Run once: one attempt, one stored transcript (one `transcript.store` entry) a call.
    queue = open_queue(config, vault)
    for job_id, recording_id in jobs:
        record = queue.get(job_id)
        assert (record.status.value, record.attempts) == ("succeeded", 1)
        stored = vault.audit_entries(object_id=recording_id, action="transcript.store")
        assert len(stored) == 1
    assert vault.verify_audit().ok
