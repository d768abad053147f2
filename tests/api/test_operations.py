"""Health, readiness, metrics and the error map of the API, on both databases."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from callvault import errors
from callvault.accounts import Accounts
from callvault.api import create_app
from callvault.api._errors import STATUS, status_of
from callvault.api._ranges import ByteRange, RangeNotSatisfiable, parse_range
from callvault.config import Config, load_config
from callvault.services import PROCESS_TASK, open_queue
from callvault.vault import DataPaths, Vault


def test_health_ready_and_metrics(config: Config, vault: Vault) -> None:
    with TestClient(create_app(config, vault=vault)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "blobs": "ok", "keys": "ok"},
        }
        client.get("/api/v1/calls/123456")  # unmatched: counted without its path
        text = client.get("/metrics").text
        assert "callvault_calls 0.0" in text
        assert (
            'callvault_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
        )
        assert "123456" not in text
        assert client.get("/openapi.json").json()["info"]["title"] == "callvault"


def test_readiness_fails_without_the_blob_store(config: Config, vault: Vault) -> None:
    blobs = DataPaths(config.data_dir).blobs
    with TestClient(create_app(config, vault=vault)) as client:
        blobs.rename(blobs.with_name("blobs.moved"))
        try:
            ready = client.get("/readyz")
        finally:
            blobs.with_name("blobs.moved").rename(blobs)
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "blobs": "unavailable", "keys": "ok"},
    }


def test_every_error_has_one_status() -> None:
    assert status_of(errors.NotFound("x")) == 404
    assert status_of(errors.ConfigError("x")) == 400
    assert status_of(errors.NotAuthorized("x")) == 403
    assert status_of(errors.KeyDestroyed("x")) == 410
    assert status_of(errors.CallvaultError("x")) == 500
    # A subclass listed after its base would never be reached.
    kinds = [kind for kind, _ in STATUS]
    for i, kind in enumerate(kinds):
        for later in kinds[i + 1 :]:
            assert not issubclass(later, kind), f"{later.__name__} is shadowed by {kind.__name__}"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=90-", 100, ByteRange(90, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-500", 100, ByteRange(0, 99)),
        ("bytes=10-5000", 100, ByteRange(10, 99)),
        ("bytes=0-1,5-6", 100, None),  # several ranges: the whole resource
        ("items=0-1", 100, None),
        ("bytes=9-2", 100, None),
    ],
)
def test_range_headers(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


def test_a_range_beyond_the_end_is_not_satisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable, match=r"bytes \*/100"):
        parse_range("bytes=100-", 100)
    assert ByteRange(0, 9).content_range(100) == "bytes 0-9/100"


def test_serve_answers_on_loopback_with_workers(tmp_path: Path) -> None:
    """`callvault serve` as a real process: ready, its workers transcribe nothing when
    nothing is queued (the queue is recovered at start), and a recording sent with
    chunked transfer encoding (no Content-Length, as a browser or curl streams a file)
    is stored whole."""
    port = _free_port()
    env = {**os.environ, "CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_DATABASE_URL": ""}
    with Vault.open(load_config(env)) as vault:
        Accounts(vault).add_user("uploader", "correct horse battery", "admin")
        _, secret = Accounts(vault).create_token(
            "uploader", "test", ["calls:read", "calls:write"], 1
        )
    server = subprocess.Popen(
        [sys.executable, "-m", "callvault", "serve", "--no-workers", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ready"
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        audio = wav_bytes(tone(4.0, 16000, 2, seed=5), 16000)
        boundary = "callvault-test-boundary"
        fields = {"caller": "+14155550100", "callee": "+14155550111", "consent": "verbal"}
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="chunked.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        body = head + audio + f"\r\n--{boundary}--\r\n".encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "POST",
            "/api/v1/calls",
            body=(body[i : i + 65536] for i in range(0, len(body), 65536)),
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Transfer-Encoding": "chunked",
            },
            encode_chunked=True,
        )
        answer = connection.getresponse()
        stored = json.loads(answer.read())
        connection.close()
        assert answer.status == 201, stored
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr.decode(errors="replace")
    assert f"callvault serving on http://127.0.0.1:{port}" in stderr.decode()
    assert "no users yet" not in stderr.decode()
    with Vault.open(load_config(env)) as vault:
        with vault.calls.open_recording(stored["call_id"], action="test.read") as reader:
            assert reader.read_range(0, reader.size) == audio


def test_serve_demo_is_the_readme_main_job(tmp_path: Path) -> None:
    """The README's first command: `callvault serve --demo` stores the sample call, makes
    an admin whose password it prints once, and its workers transcribe and redact the
    call while the server answers: the card number is cut from what a user reads."""
    port = _free_port()
    env = {**os.environ, "CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_DATABASE_URL": ""}
    server = subprocess.Popen(
        [sys.executable, "-m", "callvault", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        assert server.stderr is not None
        while not lines or "callvault serving on" not in lines[-1]:
            line = server.stderr.readline()
            assert line, f"serve exited early: {''.join(lines)}"
            lines.append(line)
        call_id = lines[0].split()[2]
        password = next(line for line in lines if line.startswith("sign in as admin")).split()[7]
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.3)
            signed = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            assert signed.status_code == 200, signed.text
            deadline = time.monotonic() + 300
            while True:
                record = client.get(f"/api/v1/calls/{call_id}").json()
                if record.get("transcript"):
                    break
                assert time.monotonic() < deadline, record
                time.sleep(1)
            said = " ".join(u["text"] for u in record["transcript"]["utterances"])
            assert "[CREDIT_CARD]" in said
            assert not any(group in said for group in ("4556", "7375", "8689", "9855"))
            page = client.get(f"/calls/{call_id}")
            assert page.status_code == 200 and "[CREDIT_CARD]" in page.text
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_count_jobs_by_status(config: Config, vault: Vault) -> None:
    open_queue(config, vault).enqueue(PROCESS_TASK, {"call_id": "c1"})
    with TestClient(create_app(config, vault=vault)) as client:
        text = client.get("/metrics").text
    assert 'callvault_jobs{status="queued"} 1.0' in text
    assert "callvault_calls 0.0" in text
