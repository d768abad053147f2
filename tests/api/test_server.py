"""`callvault serve` against slow and oversized clients over a real socket (issue 17,
finding 3: 20 connections that declared 2 GiB and sent one byte every 5 s stayed open
indefinitely; an anonymous 300 MiB POST was read in full, then answered 401)."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _stored import add_people
from callvault.config import Config
from callvault.vault import Vault

GiB = 1 << 30


@dataclasses.dataclass
class Server:
    port: int
    token: str
    temp_dir: Path
    spool: Path

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(config: Config, tmp_path: Path) -> Iterator[Server]:
    with Vault.open(config) as vault:
        token = add_people(vault, ["calls:read", "calls:write"])["bob"]
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_REQUEST_IDLE_TIMEOUT": "1",
        "CALLVAULT_REQUEST_MIN_RATE": "4096",
        "TMPDIR": str(temp_dir),
    }
    command = [sys.executable, "-m", "callvault", "serve", "--no-workers", "--port", str(port)]
    log = tmp_path / "serve.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "callvault serve did not start"
                time.sleep(0.2)
        yield Server(port, token, temp_dir, config.data_dir / "spool")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_until_closed(sock: socket.socket, *, trickle: bytes = b"", every: float = 0.2) -> bytes:
    """What the server sends until it closes the connection, sending `trickle` a byte at
    a time meanwhile (as long as the server takes it); fails after 30 s connected."""
    sock.settimeout(every)
    received = b""
    pending = iter(trickle)
    give_up = time.monotonic() + 30
    while True:
        assert time.monotonic() < give_up, f"still connected after 30 s; got {received[:80]!r}"
        try:
            data = sock.recv(65536)
        except TimeoutError:
            byte = next(pending, None)
            if byte is not None:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    pass  # closed under us: read what it said
            continue
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def head(path: str, length: int, *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=b",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_anonymous_upload_is_answered_401_without_reading_its_body(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(head("/api/v1/calls", 300 << 20))  # and not one byte of the body
        started = time.monotonic()
        answer = read_until_closed(sock)
    # Answered and closed at once: the body it declared is never read.
    assert answer.startswith(b"HTTP/1.1 401 ") and b"connection: close" in answer.lower()
    assert time.monotonic() - started < 5
    assert list(server.temp_dir.iterdir()) == []


def test_a_declared_2_gib_upload_is_refused_at_once(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(head("/api/v1/calls", 2 * GiB, f"Authorization: Bearer {server.token}"))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than the limit of 1073741824 bytes (CALLVAULT_MAX_UPLOAD_BYTES)" in answer


def test_a_trickled_body_is_cut_off(server: Server) -> None:
    # Within the limit, authorised, one byte every 0.2 s: under the minimum rate.
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    with server.connect() as sock:
        sock.sendall(head("/api/v1/calls", 512 << 20, f"Authorization: Bearer {server.token}"))
        started = time.monotonic()
        answer = read_until_closed(sock, trickle=body + bytes(10_000))
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"slower than the minimum of 4096 bytes/s" in answer
    assert 1.0 <= took < 6
    assert not any(server.spool.glob("*.spool"))


def test_slow_headers_are_cut_off(server: Server) -> None:
    # A request head sent a byte every 0.2 s never completes: the connection is closed
    # a second (CALLVAULT_REQUEST_IDLE_TIMEOUT) after it began.
    with server.connect() as sock:
        started = time.monotonic()
        answer = read_until_closed(sock, trickle=head("/api/v1/calls", 100) * 10)
        took = time.monotonic() - started
    assert answer == b"" and took < 4
    # A connection that sends nothing at all is closed as well.
    with server.connect() as sock:
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started < 4
