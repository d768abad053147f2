"""Helpers for the Celery queue tests: a private Redis server, broker clean-up, and the
tasks a `callvault worker` child process runs (`--tasks _celery_helpers:tasks`)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _jobs_helpers import resumable

from callvault.jobs import Progress, TaskRegistry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition()` until it is truthy or `timeout` seconds passed (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A redis-server of this test alone, on a free port, that the test may stop and start
    again (the shared Redis of the machine is never stopped or flushed)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, "redis-server to accept connections")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def record(payload: Mapping[str, Any], progress: Progress) -> None:
    """Appends a line to the file `payload["log"]` names: how many times it ran."""
    progress(0.5, "half-way")
    with open(payload["log"], "a") as log:
        log.write(f"{payload.get('n', 0)}\n")


def flaky(payload: Mapping[str, Any], progress: Progress) -> None:
    """Fails while the file `payload["fail"]` exists; appends a line to `payload["log"]`."""
    with open(payload["log"], "a") as log:
        log.write("ran\n")
    if Path(payload["fail"]).exists():
        raise RuntimeError("told to fail")


def hold(payload: Mapping[str, Any], progress: Progress) -> None:
    """Writes its pid to `payload["started"]`, then reports progress until the file
    `payload["release"]` exists (a long job that beats)."""
    with open(payload["started"], "a") as started:
        started.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 120
    while not Path(payload["release"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        progress(0.5, "holding")
        time.sleep(0.05)
    progress(1.0, "released")


def registry() -> TaskRegistry:
    tasks = TaskRegistry()
    tasks.register("record", record, queue="asr")
    tasks.register("flaky", flaky, queue="webhooks")
    tasks.register("hold", hold, queue="analysis")
    tasks.register("resumable", resumable, queue="analysis")  # SIGKILLs itself once
    return tasks


def tasks(ctx: object) -> TaskRegistry:
    """The `--tasks` entry of a `callvault worker` child: the same tasks, whatever ctx."""
    return registry()
