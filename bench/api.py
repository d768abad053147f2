"""Load on `callvault serve` over loopback: concurrent uploads of 1-minute calls while
concurrent readers list calls, read a call, stream audio ranges and search.

Peer, in the same run: the same readers against a bare Starlette app under the same
uvicorn that answers each request with stored bytes of the same size (the HTTP stack
alone, no database, no decryption, no access checks). The difference is callvault's.

Targets (issue 7): 0 errors, 0 lost uploads (every upload answered 201 and readable
afterwards), p95 read latency reported.

Scale-out (issue 19): ``--servers N`` starts N `callvault serve` processes on one data
directory (the same key files, as on N machines) and spreads the load over them round
robin (reader i and upload i go to server i mod N; no load balancer in between); with
N > 1 the same load (fresh uploads) then runs against one of them alone, so the table
compares N processes, one process and the peer. ``--database postgresql`` puts the
metadata in a database of its own on the local PostgreSQL server (created and dropped
here; default SQLite in the data directory) and ``--blob-store s3`` the blobs in a private
moto_server (an S3 EMULATOR standing in for an S3-compatible store; its speed is not S3's).

    python bench/api.py [--uploads 50] [--readers 200] [--seconds 60] [--no-workers]
    python bench/api.py --servers 2 --database postgresql --blob-store s3   # issue 19
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
import uuid
import wave
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from _common import machine_line, table, verdict
from _scaleout import PrivateMoto, private_database, s3_objects

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
    base: str | list[str],
    headers: dict[str, str],
    reads: dict[str, Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]],
    readers: int,
    seconds: float,
    uploads: list[bytes] | None = None,
) -> tuple[Tally, list[tuple[int, str | None, float]], float]:
    """Readers loop for `seconds`; `uploads` are sent at once, concurrently, at the start.
    Reader i and upload i use base URL i mod len(`base`) (round robin over the servers).
    Returns the readers' tally, (status, call id, seconds) per upload, and the wall time."""
    bases = [base] if isinstance(base, str) else base
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

    clients = [
        httpx.AsyncClient(base_url=b, headers=headers, limits=limits, timeout=timeout)
        for b in bases
    ]
    try:
        began = time.monotonic()
        until = began + seconds
        tasks = [
            read_loop(clients[seed % len(clients)], reads, until, tally, seed)
            for seed in range(readers)
        ]
        tasks += [
            upload(clients[i % len(clients)], i, data) for i, data in enumerate(uploads or [])
        ]
        await asyncio.gather(*tasks)
        wall = time.monotonic() - began
    finally:
        for client in clients:
            await client.aclose()
    return tally, sent, wall


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "callvault"), *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"callvault {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Run:
    """One load run against callvault: who served it and what came back."""

    name: str
    tally: Tally
    sent: list[tuple[int, str | None, float]]
    wall: float
    uploads: int
    readable: int = 0
    listed: object = "?"

    @property
    def lost(self) -> int:
        return self.uploads - self.readable


def start_servers(
    env: dict[str, str], count: int, no_workers: bool
) -> list[tuple[subprocess.Popen[bytes], str]]:
    """`count` `callvault serve` processes on free ports, ready; (process, base URL) each."""
    servers = []
    for _ in range(count):
        port = free_port()
        command = [str(VENV_BIN / "callvault"), "serve", "--port", str(port)]
        if no_workers:
            command.append("--no-workers")
        servers.append((subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}"))
    for process, base in servers:
        wait_ready(f"{base}/readyz", process)
    return servers


@contextmanager
def backing_services(
    stack: ExitStack, env: dict[str, str], database: str, blob_store: str
) -> Iterator[str]:
    """Point `env` at a private PostgreSQL database and a private moto S3 when asked;
    yields the words that describe the storage for the machine line."""
    words = ["SQLite"]
    if database == "postgresql":
        env["CALLVAULT_DATABASE_URL"] = stack.enter_context(private_database())
        words = ["PostgreSQL (local server, own database)"]
    if blob_store == "s3":
        moto = PrivateMoto(Path(env["CALLVAULT_DATA_DIR"]).parent)
        moto.start()
        stack.callback(moto.stop)
        env.update(
            {
                "CALLVAULT_BLOB_STORE": f"s3://callvault-bench-{uuid.uuid4().hex[:8]}/blobs",
                "CALLVAULT_S3_ENDPOINT_URL": moto.url,
                "CALLVAULT_S3_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
            }
        )
        words.append("S3 store on moto_server (an emulator)")
    yield ", ".join(words)
    if blob_store == "s3" and not s3_objects(moto.url, env["CALLVAULT_BLOB_STORE"]):
        raise SystemExit(
            "the S3 store holds no object after the run: CALLVAULT_BLOB_STORE was not used"
        )


def wait_idle(base: str, timeout: float = 900) -> None:
    """Wait until no job is queued or running (the `callvault_jobs` gauge of /metrics),
    so that each compared run starts without transcriptions left over from the last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = 0.0
        for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
            if line.startswith(
                ('callvault_jobs{status="queued"}', 'callvault_jobs{status="running"}')
            ):
                busy += float(line.rsplit(" ", 1)[1])
        if not busy:
            return
        time.sleep(1.0)
    raise SystemExit(f"jobs still queued or running after {timeout:.0f} s; see /metrics")


def load_run(
    name: str,
    bases: list[str],
    headers: dict[str, str],
    seeded: list[str],
    loads: list[bytes],
    args: argparse.Namespace,
) -> Run:
    """The readers and `loads` against `bases`; then which uploads are readable."""
    tally, sent, wall = asyncio.run(
        run_readers(bases, headers, callvault_reads(seeded), args.readers, args.seconds, loads)
    )
    run = Run(name, tally, sent, wall, len(loads))
    stored = {cid for status, cid, _ in sent if status == 201 and cid}
    run.readable = sum(
        httpx.get(f"{bases[0]}/api/v1/calls/{cid}", headers=headers, timeout=30).status_code == 200
        for cid in stored
    )
    run.listed = (
        httpx.get(f"{bases[0]}/api/v1/calls", headers=headers, params={"limit": 1})
        .json()
        .get("total", "?")
    )
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed-calls", type=int, default=5)
    parser.add_argument(
        "--servers", type=int, default=1, help="serve processes, the load round robin over them"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--blob-store", choices=["local", "s3"], default="local")
    parser.add_argument(
        "--no-workers", action="store_true", help="serve without in-process processing"
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a target fails")
    args = parser.parse_args()
    if args.servers < 1:
        parser.error("--servers must be at least 1")

    compare = args.servers > 1  # then the same load again against one process alone
    count = args.uploads * (2 if compare else 1) + args.seed_calls
    print(f"Building {count} one-minute stereo calls ...", flush=True)
    wavs = [call_wav(seed) for seed in range(count)]
    seeds, loads = wavs[: args.seed_calls], wavs[args.seed_calls :]

    runs: list[Run] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="callvault-bench-api-"))
        env = {
            **os.environ,
            "CALLVAULT_DATA_DIR": str(Path(tmp) / "data"),
            "CALLVAULT_LOG_LEVEL": "WARNING",
            "CALLVAULT_NEW_PASSWORD": PASSWORD,
        }
        storage = stack.enter_context(backing_services(stack, env, args.database, args.blob_store))
        if args.database != "sqlite" or args.blob_store != "local":
            cli(env, "init")  # creates the bucket
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
        servers: list[tuple[subprocess.Popen[bytes], str]] = []

        def stop_servers() -> None:
            for process, _ in servers:
                stop(process)

        stack.callback(stop_servers)
        servers += start_servers(env, args.servers, args.no_workers)
        base = servers[0][1]
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
                httpx.get(f"{base}/api/v1/search", headers=headers, params={"q": "call"}).content
            ),
        }
        print(
            f"Load: {args.uploads} uploads of {len(seeds[0]) / 1e6:.2f} MB and "
            f"{args.readers} readers for {args.seconds:.0f} s"
            + (f" over {args.servers} servers ..." if compare else " ..."),
            flush=True,
        )
        name = f"callvault, {args.servers} processes" if compare else "callvault"
        idle = compare and not args.no_workers  # with no workers, the queue only grows
        if idle:
            wait_idle(base)
        bases = [b for _, b in servers]
        runs.append(load_run(name, bases, headers, seeded, loads[: args.uploads], args))
        if compare:
            for process, _ in servers[1:]:
                stop(process)
            if idle:
                wait_idle(base)
            print("The same load against one of them alone ...", flush=True)
            runs.append(
                load_run(
                    "callvault, 1 process", bases[:1], headers, seeded, loads[args.uploads :], args
                )
            )

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

    errors = [e for run in runs for e in run.tally.errors]
    errors += [
        f"upload: {status} {detail}"
        for run in runs
        for status, detail, _ in run.sent
        if status != 201
    ]
    print()
    print(
        machine_line(
            ["fastapi", "uvicorn", "httpx"],
            (
                f"callvault serve {'without' if args.no_workers else 'with'} in-process workers, "
                f"{storage}, loopback; client and server on the same cores"
            ),
        )
    )
    rows = []
    measured = [(run.name, run.tally, run.wall) for run in runs]
    for name, t, w in (*measured, ("bare Starlette (peer)", peer_tally, peer_wall)):
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
    upload_rows = []
    for run in runs:
        upload_ok = [s for s in run.sent if s[0] == 201]
        upload_times = [s[2] for s in upload_ok]
        upload_rows.append(
            ([run.name] if compare else [])
            + [
                str(run.uploads),
                str(len(upload_ok)),
                str(run.readable),
                str(run.lost),
                f"{np.percentile(upload_times, 50):.1f}" if upload_times else "-",
                f"{np.percentile(upload_times, 95):.1f}" if upload_times else "-",
                f"{max(upload_times):.1f}" if upload_times else "-",
                str(run.listed),
            ]
        )
    table(
        (["server"] if compare else [])
        + [
            "uploads sent",
            "201",
            "readable after",
            "lost",
            "p50 s",
            "p95 s",
            "max s",
            "calls listed",
        ],
        upload_rows,
    )
    for line in sorted(set(errors))[:10]:
        print(f"error: {line} (x{errors.count(line)})")
    lost = sum(run.lost for run in runs)
    ok = not errors and lost == 0
    print(f"Targets: 0 errors ({len(errors)}), 0 lost uploads ({lost}): {verdict(ok)}")
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    raise SystemExit(main())
