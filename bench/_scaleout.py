"""What the scale-out benches (scale.py, api.py) share: servers of their own on free
loopback ports (redis-server; moto's S3 EMULATOR, which stands in for an S3-compatible
store and whose speed is not S3's), a PostgreSQL database of their own, and a sampler of
the CPU time and memory of process trees, read from /proc.

Each bench runs as a script, so this folder is on ``sys.path`` and ``import _scaleout``
finds this file.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
POSTGRES = os.environ.get(
    "CALLVAULT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(SystemExit):
    """An external step failed: the message carries its command and stderr."""


def _stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, start time, utime + stime ticks, rss KiB) of `pid`, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid 4, utime 14, stime 15, starttime 22, rss 24
    return int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]), int(fields[21])


class Sampler:
    """Samples the process trees under `roots` (pids) every `interval` s: CPU seconds of
    every process ever seen (its last reading, so a killed process keeps what it used) and
    the peak of the summed resident memory."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.roots: set[int] = set()
        self.cpu: dict[tuple[int, int], int] = {}
        self.peak_kib = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int) -> None:
        with self._lock:
            self.roots.add(pid)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def cpu_s(self) -> float:
        return sum(self.cpu.values()) / CLOCK_TICKS

    def sample(self) -> None:
        children: dict[int, list[int]] = {}
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (st := _stat(int(entry))) is not None:
                stats[int(entry)] = st
                children.setdefault(st[0], []).append(int(entry))
        with self._lock:
            todo = [pid for pid in self.roots if pid in stats]
        rss, seen = 0, set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            _, start, ticks, pages = stats[pid]
            self.cpu[(pid, start)] = ticks
            rss += pages * PAGE_KIB
            todo.extend(children.get(pid, []))
        self.peak_kib = max(self.peak_kib, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, ready: Any, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """Poll `ready()` for up to `timeout` s; fail loudly with the tail of `log` if
    `process` exits first or it never gets ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip()[-2000:]
            raise BenchError(f"{what} exited with {process.returncode}: {tail}")
        if ready():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise BenchError(f"{what} not ready after {timeout:.0f} s: {tail}")


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateServer:
    """A server process of this bench alone on a free loopback port; its output goes to
    `<workdir>/<name>.log` (a pipe nobody reads would fill up and stop it)."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"{self.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.name, self.ready, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class PrivateRedis(PrivateServer):
    """A redis-server of this bench alone: no RDB snapshot, no AOF (so what it held is
    gone when it stops, as after a crash of an unpersisted broker)."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BenchError("redis-server is not installed (apt-get install redis-server)")
        return [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""] + [
            "--appendonly",
            "no",
            "--dir",
            str(self.log.parent),
        ]

    def ready(self) -> bool:
        return redis_ping(self.port)


class PrivateMoto(PrivateServer):
    """moto's S3 EMULATOR, standing in for an S3-compatible store."""

    name = "moto_server"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(self.url, timeout=2).status_code < 500
        except httpx.TransportError:
            return False


def s3_objects(endpoint: str, store_url: str) -> int:
    """How many objects the store `store_url` (s3://bucket/prefix) holds on `endpoint`:
    0 after a run means callvault did not write there (the setting was not honoured)."""
    import boto3
    from botocore.exceptions import ClientError

    bucket, _, prefix = store_url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sum(page.get("KeyCount", 0) for page in pages)
    except ClientError:
        return 0  # no such bucket


@contextmanager
def private_database() -> Iterator[str]:
    """A PostgreSQL database of its own on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"callvault_bench_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise BenchError(f"cannot create a database on {POSTGRES}: {exc}") from exc
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
