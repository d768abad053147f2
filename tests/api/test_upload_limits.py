"""Uploads are decided on the headers and received into an encrypted spool (issue 17,
finding 3): an anonymous or unauthorised upload is refused before any byte of its body
is read, an over-limit one at once (Content-Length) or as soon as it passes the limit
(chunked), a slow one cut off, and no plaintext audio ever reaches the temporary
directory. The app is driven through ASGI directly where the test must count the bytes
the server pulled from the client (the TestClient reads a request body whole first)."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from _stored import PASSWORD, add_people
from callvault.api import create_app
from callvault.config import Config
from callvault.vault import DataPaths, Vault

MiB = 1 << 20
BOUNDARY = "cv-test-boundary"


@dataclasses.dataclass
class Site:
    client: TestClient
    vault: Vault
    config: Config
    tokens: dict[str, str]
    temp_files: list[str]  # every temporary file Python's tempfile made meanwhile
    temp_dir: Path

    def bearer(self, username: str) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", f"Bearer {self.tokens[username]}".encode())]

    def spooled(self) -> list[Path]:
        spool = DataPaths(self.config.data_dir).spool
        return sorted(spool.iterdir()) if spool.is_dir() else []


@pytest.fixture
def site(
    config: Config,
    vault: Vault,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    config = dataclasses.replace(
        config,
        max_upload_bytes=getattr(request, "param", 4 * MiB),
        request_idle_timeout=1.0,
        request_min_rate=4096,
        request_body_timeout=30.0,
    )
    tokens = add_people(vault, ["calls:read", "calls:write", "audio:read"])
    # Every way the standard library makes a temporary file is watched, and the
    # temporary directory is one of this test's own (Starlette's parser rolled an
    # upload over 1 MiB into tempfile.TemporaryFile, an unnamed O_TMPFILE on Linux that
    # a listing of the directory would never show).
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))
    made: list[str] = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "SpooledTemporaryFile"):
        real = getattr(tempfile, name)

        def watched(
            *args: Any, _real: Callable[..., Any] = real, _name: str = name, **kw: Any
        ) -> Any:
            made.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(tempfile, name, watched)
    app = create_app(config, vault=vault)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Site(client, vault, config, tokens, made, temp_dir)


@dataclasses.dataclass
class Exchange:
    status: int
    headers: dict[str, str]
    body: bytes
    bytes_read: int  # body bytes the app pulled from the client
    seconds: float


def multipart(fields: dict[str, str], audio: bytes, filename: str = "call.wav") -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def send(
    site: Site,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: Iterator[bytes],
    *,
    pause: float = 0.0,
    end: bool = True,
) -> Exchange:
    """One request straight into the ASGI app; `chunks` are handed over one per
    `receive()` (after `pause` seconds each), and counted; then the body ends, or with
    `end` False the client stays silent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    read = 0
    messages: list[dict[str, Any]] = []

    async def run() -> None:
        nonlocal read
        pending = iter(chunks)
        finished = False

        async def receive() -> dict[str, Any]:
            nonlocal read, finished
            if finished:
                await asyncio.sleep(3600)  # a client that keeps the connection open
            if pause:
                await asyncio.sleep(pause)
            chunk = next(pending, None)
            if chunk is None and not end:
                await asyncio.sleep(3600)
            if chunk is None:
                finished = True
                return {"type": "http.request", "body": b"", "more_body": False}
            read += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def sender(message: dict[str, Any]) -> None:
            messages.append(message)

        await site.client.app(scope, receive, sender)

    started = time.monotonic()
    assert site.client.portal is not None
    site.client.portal.call(run)
    seconds = time.monotonic() - started
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers_out = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Exchange(start["status"], headers_out, body, read, seconds)


def zeros(total: int, size: int = MiB) -> Iterator[bytes]:
    block = bytes(size)
    for start in range(0, total, size):
        yield block[: min(size, total - start)]


def upload_headers(length: int | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers


@pytest.mark.parametrize("site", [1 << 30], indirect=True)  # the default limit
def test_anonymous_300_mib_upload_is_refused_on_its_headers(site: Site) -> None:
    # issue 17: spooled in full to the temporary directory, then answered 401
    size = 300 * MiB
    for length in (size, None):  # declared, and chunked
        got = send(site, "/api/v1/calls", upload_headers(length), zeros(size))
        assert got.status == 401
        assert got.bytes_read == 0
    # The web form of someone not signed in: sent to the sign-in page, body unread.
    page = send(site, "/upload", upload_headers(size), zeros(size))
    assert page.status == 303 and page.headers["location"].startswith("/login")
    assert page.bytes_read == 0
    assert site.temp_files == [] and list(site.temp_dir.iterdir()) == []
    assert site.spooled() == []


def test_unauthorised_upload_is_refused_before_its_file_is_read(site: Site) -> None:
    audio = bytes(3 * MiB)
    # An auditor never uploads: refused on the headers.
    auditor = send(
        site,
        "/api/v1/calls",
        site.bearer("otto") + upload_headers(None),
        iter([multipart({}, audio)]),
    )
    assert auditor.status == 403 and auditor.bytes_read == 0
    # A rep naming another team's agent: refused when the file part begins, before any
    # byte of it is spooled.
    body = multipart({"agent": "carol"}, audio)
    rep = send(
        site, "/api/v1/calls", site.bearer("bob") + upload_headers(len(body)), zeros_of(body)
    )
    assert rep.status == 403 and "may not upload calls of agent carol" in rep.body.decode()
    assert rep.bytes_read < 64 * 1024
    # A session without its CSRF token in the header or before the file: 403, unread.
    session = site.client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    assert session.status_code == 200
    cookie = [(b"cookie", f"callvault_session={site.client.cookies['callvault_session']}".encode())]
    forged = send(site, "/api/v1/calls", cookie + upload_headers(len(body)), zeros_of(body))
    assert forged.status == 403 and "CSRF" in forged.body.decode()
    assert forged.bytes_read < 64 * 1024
    assert site.temp_files == [] and site.spooled() == []
    assert site.vault.calls.list_calls() == []


def zeros_of(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_an_upload_over_the_limit_is_refused_with_413_naming_it(site: Site) -> None:
    limit = site.config.max_upload_bytes
    declared = send(
        site, "/api/v1/calls", site.bearer("bob") + upload_headers(limit + 1), zeros(limit + 1)
    )
    assert declared.status == 413 and declared.bytes_read == 0
    assert declared.headers["connection"] == "close"
    message = (
        f"the request body is larger than the limit of {limit} bytes "
        "(CALLVAULT_MAX_UPLOAD_BYTES); nothing was stored"
    )
    assert message in declared.body.decode()
    # Chunked: counted while read, refused the moment it passes the limit.
    chunk = 64 * 1024
    body = multipart({}, wav_bytes(tone(200.0, 16000, 1), 16000))  # 6.1 MiB
    assert len(body) > limit
    chunked = send(
        site, "/api/v1/calls", site.bearer("bob") + upload_headers(None), zeros_of(body, chunk)
    )
    assert chunked.status == 413 and message in chunked.body.decode()
    assert limit < chunked.bytes_read <= limit + chunk
    assert site.spooled() == [] and site.vault.calls.list_calls() == []
    assert site.temp_files == []


def test_a_slow_body_is_cut_off(site: Site) -> None:
    # A client that declares a body and then sends nothing: cut off after the idle
    # timeout (1 s here).
    never = send(
        site,
        "/api/v1/calls",
        site.bearer("bob") + upload_headers(2 * MiB),
        iter([multipart({}, b"")[:40]]),
        end=False,
    )
    assert never.status == 408 and never.seconds < 5
    assert "no part of the request body arrived for 1 s" in never.body.decode()
    # One byte every 0.2 s: never silent for a second, but far under 4096 bytes/s.
    trickle = send(
        site,
        "/api/v1/calls",
        site.bearer("bob") + upload_headers(2 * MiB),
        zeros_of(multipart({}, bytes(2 * MiB - 200)), 1),
        pause=0.2,
    )
    assert trickle.status == 408 and 1.0 <= trickle.seconds < 5
    assert "slower than the minimum of 4096 bytes/s" in trickle.body.decode()
    assert site.spooled() == [] and site.vault.calls.list_calls() == []


def test_an_upload_is_stored_through_the_encrypted_spool(site: Site) -> None:
    audio = wav_bytes(tone(40.0, 16000, 2, seed=5), 16000)  # 2.4 MiB: over Starlette's 1 MiB
    body = multipart(
        {"caller": "+14155550100", "direction": "outbound", "consent": "pre-call-notice"}, audio
    )
    seen: list[bytes] = []
    spool = DataPaths(site.config.data_dir).spool

    def chunks() -> Iterator[bytes]:
        for part in zeros_of(body, 256 * 1024):
            yield part
            for path in spool.glob("*.spool"):  # what is on disk while it arrives
                seen.append(path.read_bytes())

    got = send(site, "/api/v1/calls", site.bearer("bob") + upload_headers(len(body)), chunks())
    assert got.status == 201, got.body
    assert seen and all(audio[1000:1064] not in data for data in seen)  # ciphertext only
    assert max(len(data) for data in seen) > MiB
    assert site.temp_files == [] and list(site.temp_dir.iterdir()) == []
    assert site.spooled() == []  # removed once stored
    (call,) = site.vault.calls.list_calls()
    with site.vault.calls.open_recording(call.id) as reader:
        assert b"".join(reader.iter_chunks()) == audio
    # The same through the web form, its CSRF token a field before the file.
    login = site.client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    other = wav_bytes(tone(3.0, 16000, 2, seed=6), 16000)
    form = multipart({"csrf_token": csrf, "consent": "pre-call-notice"}, other)
    cookie = [(b"cookie", f"callvault_session={site.client.cookies['callvault_session']}".encode())]
    page = send(site, "/upload", cookie + upload_headers(len(form)), zeros_of(form))
    assert page.status == 303, page.body
    assert len(site.vault.calls.list_calls()) == 2
    assert site.temp_files == [] and site.spooled() == []
