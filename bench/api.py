"""Load on `callvault serve` over loopback: concurrent uploads of 1-minute calls while
concurrent readers list calls, read a call, stream audio ranges and search.

Peer, in the same run: the same readers against a bare Starlette app under the same
uvicorn that answers each request with stored bytes of the same size (the HTTP stack
alone, no database, no decryption, no access checks). The difference is callvault's.

Targets (issue 7): 0 errors, 0 lost uploads (every upload answered 201 and readable
afterwards), p95 read latency reported.

    python bench/api.py [--uploads 50] [--readers 200] [--seconds 60] [--no-workers]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from _common import machine_line, table, verdict

VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench-password-0123"
RATE = 8000
READS = ("list", "call", "audio", "search")


def call_wav(seed: int, seconds: float = 60.0) -> bytes:
    """A stereo 8 kHz call, one leg per channel: tone bursts in turns over low noise,
    different for every seed (no two uploads are the same recording)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    legs = rng.normal(0, 200, (n, 2))
    for start in np.arange(0, seconds, 4.0):
        leg = int(start // 4) % 2
        span = (t >= start) & (t < start + 3.0)
        legs[span, leg] += 6000 * np.sin(2 * np.pi * rng.uniform(200, 900) * t[span])
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.clip(legs, -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in READS})
    errors: list[str] = field(default_factory=list)

    def all(self) -> list[float]:
        return [x for values in self.latencies.values() for x in values]


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) * 1000:.0f}" if values else "-"


async def read_loop(
    client: httpx.AsyncClient,
    reads: dict[str, Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]],
    until: float,
    tally: Tally,
    seed: int,
) -> None:
    rng = random.Random(seed)
    kinds = list(reads)
    while time.monotonic() < until:
        kind = kinds[rng.randrange(len(kinds))]
        started = time.perf_counter()
        try:
            response = await reads[kind](client, rng)
        except httpx.HTTPError as exc:
            tally.errors.append(f"{kind}: {type(exc).__name__}")
            continue
        took = time.perf_counter() - started
        if response.status_code not in (200, 206):
            tally.errors.append(f"{kind}: HTTP {response.status_code}")
        else:
            tally.latencies[kind].append(took)


def callvault_reads(
    call_ids: list[str],
) -> dict[str, Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]]:
    async def list_calls(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        return await client.get("/api/v1/calls", params={"limit": 20})

    async def one_call(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        return await client.get(f"/api/v1/calls/{rng.choice(call_ids)}")

    async def audio(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        start = rng.randrange(0, 1_800_000)
        return await client.get(
            f"/api/v1/calls/{rng.choice(call_ids)}/audio",
            headers={"Range": f"bytes={start}-{start + 65535}"},
        )

    async def search(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        return await client.get(
            "/api/v1/search", params={"q": rng.choice(["card", "price", "call", "thank"])}
        )

    return {"list": list_calls, "call": one_call, "audio": audio, "search": search}


def peer_reads(
    sizes: dict[str, int],
) -> dict[str, Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]]:
    def read(kind: str) -> Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]:
        async def get(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            return await client.get(f"/{kind}")

        return get

    return {kind: read(kind) for kind in sizes}


PEER_APP = """
import json, sys
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
import uvicorn
sizes = json.loads(sys.argv[2])
def route(kind, size):
    body = b"x" * size
    async def endpoint(request):
        return Response(body, media_type="application/octet-stream")
    return Route("/" + kind, endpoint)
routes = [route(k, v) for k, v in sizes.items()]
routes.append(Route("/healthz", lambda request: Response(b"ok")))
uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


async def run_readers(
    base: str,
    headers: dict[str, str],
    reads: dict[str, Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]],
    readers: int,
    seconds: float,
    uploads: list[bytes] | None = None,
) -> tuple[Tally, list[tuple[int, str | None, float]], float]:
    """Readers loop for `seconds`; `uploads` are sent at once, concurrently, at the start.
    Returns the readers' tally, (status, call id, seconds) per upload, and the wall time."""
    limits = httpx.Limits(max_connections=readers + len(uploads or []) + 10)
    timeout = httpx.Timeout(120.0)
    tally = Tally()
    sent: list[tuple[int, str | None, float]] = []

    async def upload(client: httpx.AsyncClient, index: int, data: bytes) -> None:
        form = {
            "caller": f"+1415555{index:04d}",
            "callee": "+14155550100",
            "direction": "inbound",
            "consent": "pre-call-notice",
        }
        started = time.perf_counter()
        try:
            response = await client.post(
                "/api/v1/calls", data=form, files={"file": (f"load-{index}.wav", data)}
            )
        except httpx.HTTPError as exc:
            sent.append((0, type(exc).__name__, time.perf_counter() - started))
            return
        call_id = response.json().get("call_id") if response.status_code == 201 else None
        sent.append((response.status_code, call_id, time.perf_counter() - started))

    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=timeout
    ) as client:
        began = time.monotonic()
        until = began + seconds
        tasks = [read_loop(client, reads, until, tally, seed) for seed in range(readers)]
        tasks += [upload(client, i, data) for i, data in enumerate(uploads or [])]
        await asyncio.gather(*tasks)
        wall = time.monotonic() - began
    return tally, sent, wall


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "callvault"), *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"callvault {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed-calls", type=int, default=5)
    parser.add_argument(
        "--no-workers", action="store_true", help="serve without in-process processing"
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a target fails")
    args = parser.parse_args()

    print(f"Building {args.uploads + args.seed_calls} one-minute stereo calls ...", flush=True)
    wavs = [call_wav(seed) for seed in range(args.uploads + args.seed_calls)]
    seeds, loads = wavs[: args.seed_calls], wavs[args.seed_calls :]

    with tempfile.TemporaryDirectory(prefix="callvault-bench-api-") as tmp:
        env = {
            **os.environ,
            "CALLVAULT_DATA_DIR": str(Path(tmp) / "data"),
            "CALLVAULT_LOG_LEVEL": "WARNING",
            "CALLVAULT_NEW_PASSWORD": PASSWORD,
        }
        cli(env, "users", "add", "bench", "--role", "admin")
        scopes = [
            a for s in ("calls:read", "calls:write", "audio:read", "search") for a in ("--scope", s)
        ]
        token = json.loads(
            cli(
                env,
                "users",
                "token",
                "create",
                "bench",
                "--name",
                "load",
                *scopes,
                "--days",
                "1",
                "--json",
            )
        )["secret"]
        headers = {"Authorization": f"Bearer {token}"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(VENV_BIN / "callvault"), "serve", "--port", str(port)]
        if args.no_workers:
            command.append("--no-workers")
        server = subprocess.Popen(command, env=env)
        try:
            wait_ready(f"{base}/readyz", server)
            seeded: list[str] = []
            for index, data in enumerate(seeds):
                response = httpx.post(
                    f"{base}/api/v1/calls",
                    headers=headers,
                    data={
                        "caller": f"+1415666{index:04d}",
                        "callee": "+14155550100",
                        "direction": "inbound",
                        "consent": "pre-call-notice",
                    },
                    files={"file": (f"seed-{index}.wav", data)},
                    timeout=120,
                )
                if response.status_code != 201:
                    raise SystemExit(f"seeding failed: {response.status_code} {response.text}")
                seeded.append(response.json()["call_id"])
            sizes = {
                "list": len(
                    httpx.get(f"{base}/api/v1/calls", headers=headers, params={"limit": 20}).content
                ),
                "call": len(httpx.get(f"{base}/api/v1/calls/{seeded[0]}", headers=headers).content),
                "audio": 65536,
                "search": len(
                    httpx.get(
                        f"{base}/api/v1/search", headers=headers, params={"q": "call"}
                    ).content
                ),
            }
            print(
                f"Load: {args.uploads} uploads of {len(seeds[0]) / 1e6:.2f} MB and "
                f"{args.readers} readers for {args.seconds:.0f} s ...",
                flush=True,
            )
            tally, sent, wall = asyncio.run(
                run_readers(
                    base, headers, callvault_reads(seeded), args.readers, args.seconds, loads
                )
            )
            stored = {cid for status, cid, _ in sent if status == 201 and cid}
            readable = sum(
                httpx.get(f"{base}/api/v1/calls/{cid}", headers=headers, timeout=30).status_code
                == 200
                for cid in stored
            )
            total = httpx.get(f"{base}/api/v1/calls", headers=headers, params={"limit": 1}).json()
        finally:
            stop(server)

    peer_port = free_port()
    peer = subprocess.Popen([sys.executable, "-c", PEER_APP, str(peer_port), json.dumps(sizes)])
    try:
        wait_ready(f"http://127.0.0.1:{peer_port}/healthz", peer)
        print(f"Peer: the same {args.readers} readers against bare Starlette ...", flush=True)
        peer_tally, _, peer_wall = asyncio.run(
            run_readers(
                f"http://127.0.0.1:{peer_port}", {}, peer_reads(sizes), args.readers, args.seconds
            )
        )
    finally:
        stop(peer)

    upload_ok = [s for s in sent if s[0] == 201]
    lost = args.uploads - readable
    upload_errors = [f"upload: {status} {detail}" for status, detail, _ in sent if status != 201]
    errors = tally.errors + upload_errors
    print()
    print(
        machine_line(
            ["fastapi", "uvicorn", "httpx"],
            (
                f"callvault serve {'without' if args.no_workers else 'with'} in-process workers, "
                f"SQLite, loopback; client and server on the same cores"
            ),
        )
    )
    rows = []
    for name, t, w in (
        ("callvault", tally, wall),
        ("bare Starlette (peer)", peer_tally, peer_wall),
    ):
        values = t.all()
        rows.append(
            [
                name,
                "all reads",
                str(len(values)),
                str(len(t.errors)),
                pct(values, 50),
                pct(values, 95),
                pct(values, 99),
                f"{len(values) / w:.0f}",
            ]
        )
        for kind in READS:
            kv = t.latencies.get(kind, [])
            rows.append(["", kind, str(len(kv)), "", pct(kv, 50), pct(kv, 95), pct(kv, 99), ""])
    table(["server", "read", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s"], rows)
    upload_times = [s[2] for s in upload_ok]
    table(
        [
            "uploads sent",
            "201",
            "readable after",
            "lost",
            "p50 s",
            "p95 s",
            "max s",
            "calls listed",
        ],
        [
            [
                str(args.uploads),
                str(len(upload_ok)),
                str(readable),
                str(lost),
                f"{np.percentile(upload_times, 50):.1f}" if upload_times else "-",
                f"{np.percentile(upload_times, 95):.1f}" if upload_times else "-",
                f"{max(upload_times):.1f}" if upload_times else "-",
                str(total.get("total", "?")),
            ]
        ],
    )
    for line in sorted(set(errors))[:10]:
        print(f"error: {line} (x{errors.count(line)})")
    ok = not errors and lost == 0
    print(f"Targets: 0 errors ({len(errors)}), 0 lost uploads ({lost}): {verdict(ok)}")
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    raise SystemExit(main())
