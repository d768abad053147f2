"""Scale-out throughput (issue 19): N calls of L seconds of real speech, ingested and
transcribed by the embedded default and by Celery workers on PostgreSQL, Redis and S3.

Modes, measured in the same run, in this order:

- ``embedded-1``, ``embedded-2``: the default deployment, SQLite and the local encrypted
  store; the calls are ingested, then ``callvault jobs run`` processes them with
  ``CALLVAULT_WORKERS`` = 1 or 2 worker threads in one process. That is the fair
  equivalent of 1 or 2 Celery worker processes: the same code, one task at a time per
  thread, the speech model loaded once per process (so 2 threads share it) instead of
  once per worker process.
- ``celery-1``, ``celery-2``: a database of its own on the local PostgreSQL server
  (created and dropped here), a PRIVATE ``redis-server`` on a free port (never the
  machine's shared one), a private ``moto_server`` as the S3-compatible store (an S3
  EMULATOR: it stands in for S3, its speed is not S3's), one ``callvault serve`` (its
  sweeper republishes and recovers jobs; it runs no job threads with a broker) and 1 or 2
  ``callvault worker --concurrency 1`` processes. The calls are ingested first, then the
  workers start.

Each mode's processing wall time runs from starting the workers (model loading included)
to the last transcription job finished. Throughput is audio hours transcribed per hour of
wall time; "per core" divides it by the cores the callvault processes kept busy (their CPU
seconds, user + system, read from /proc, over the wall time; PostgreSQL, Redis and moto are
not counted). Peak RSS is the largest sum of the resident memory of the processing
processes at one moment (sampled every 0.25 s): ``jobs run``, or the Celery workers with
their children and the one ``serve``.

``--faults`` (Celery, 2 workers): part of the calls are ingested while the workers run;
one worker's process group is SIGKILLed at random moments ``--kills`` times, a worker being
started again after each kill, and the private redis-server is stopped for
``--outage-seconds`` while a batch is ingested (its outcome, stored and queued in the
database or refused with an error, is recorded), then started again on the same port.
Its wall time runs until the last kill as well as the last job, so its throughput shows
what the faults cost, not the capacity.

At the end of each mode: every call is listed and has exactly one transcript (``callvault
audit list --action transcript.store --json``: one store per call; a call transcribed twice
after a kill shows here), every transcript holds speech (status ``done``), no job is left
running, none failed (``callvault jobs list --json``), ``callvault verify --all`` and
``callvault audit verify`` exit 0, and (Celery) the S3 store holds the blobs. A Markdown
table of the throughput and one of the checks follow; the exit code is 1 if a check
failed.

The calls are stereo 8 kHz G.711 (mu-law) WAVs built once into a temporary directory from
the real English recordings of the evaluation corpus (``../shared/eval-data/asr/en``, read
where it lies, never copied into the repository): each call is a different random sequence
of utterances, alternating between the two channels with gaps, through the telephone band
(bench/_telephone.py) with line noise seeded per call, so no two calls are the same bytes.

    python bench/scale.py [--calls 100] [--seconds 120] [--modes embedded,celery] [--faults]
    python bench/scale.py --calls 2 --seconds 20 --modes embedded      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _common import machine_line, table
from _scaleout import (
    VENV_BIN,
    BenchError,
    PrivateMoto,
    PrivateRedis,
    Sampler,
    free_port,
    private_database,
    s3_objects,
    wait_for,
)
from _telephone import RATE, read_mono, resample, telephone_call

EVAL_DATA = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).resolve().parents[2] / "shared/eval-data")
)
PROCESS_TASK = "process_call"
FINAL = {"succeeded", "failed", "cancelled", "superseded"}


# --- the calls ------------------------------------------------------------------------


def utterances() -> list[np.ndarray]:
    """The English utterances of the evaluation corpus, 8 kHz float32 mono, one per file.
    The files of a single speaker per channel only (no stereo file, no mixed-language one)."""
    root = EVAL_DATA / "asr" / "en"
    if not root.is_dir():
        raise BenchError(f"no evaluation corpus at {root}; set CALLVAULT_EVAL_DATA")
    names = sorted(p for p in root.glob("ljspeech/*.wav")) + sorted(root.glob("librispeech_*"))
    names += [root / "jfk.flac", root / "OSR_us_000_0034_8k.wav"]
    out = []
    for path in names:
        if path.suffix not in {".wav", ".flac"}:
            continue
        audio, rate = read_mono(path)
        out.append(resample(audio, rate))
    if not out:
        raise BenchError(f"no English recordings under {root}")
    return out


def build_calls(count: int, seconds: float, outdir: Path) -> list[Path]:
    """`count` distinct stereo calls of about `seconds` each (see the module docstring)."""
    pool = utterances()
    paths = []
    for index in range(count):
        rng = random.Random(1000 + index)
        n = int(seconds * RATE)
        channels = np.zeros((2, n), np.float32)
        at, channel = int(rng.uniform(0.2, 1.0) * RATE), rng.randrange(2)
        while at < n:
            speech = pool[rng.randrange(len(pool))]
            take = min(len(speech), n - at)
            channels[channel, at : at + take] = speech[:take] * rng.uniform(0.6, 1.0)
            at += take + int(rng.uniform(0.3, 1.2) * RATE)
            channel = 1 - channel if rng.random() < 0.8 else channel
        path = outdir / f"call-{index:04d}.wav"
        telephone_call(channels, RATE, path, "ulaw", noise_dbfs=-50.0, seed=index * 2)
        paths.append(path)
    return paths


# --- callvault commands ----------------------------------------------------------------


def callvault(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one `callvault` command; with `check`, fail loudly with its stderr."""
    done = subprocess.run(
        [str(VENV_BIN / "callvault"), *args], env=env, capture_output=True, text=True
    )
    if check and done.returncode:
        raise BenchError(
            f"callvault {' '.join(args[:3])} ... exited {done.returncode}: "
            f"{done.stderr.strip()[-3000:]}"
        )
    return done


def ingest_command(paths: list[Path], batch_no: int) -> list[str]:
    return [
        str(VENV_BIN / "callvault"),
        "ingest",
        *map(str, paths),
        "--caller",
        f"+1415555{batch_no:04d}",
        "--callee",
        "+14155550100",
        "--direction",
        "inbound",
        "--language",
        "en",
        "--consent",
        "pre-call-notice",
        "--json",
    ]


def ingest(
    env: dict[str, str], paths: list[Path], batch_no: int
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ingest_command(paths, batch_no), env=env, capture_output=True, text=True)


def call_ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [c["call_id"] for c in json.loads(done.stdout)["calls"]]


def job_states(db_url: str) -> Counter[str]:
    """Status counts of the transcription jobs, read from the jobs ledger directly (a
    `callvault jobs list` every poll would start a Python process each time)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT status, count(*) FROM jobs WHERE task = :t GROUP BY status"),
                {"t": PROCESS_TASK},
            )
            return Counter({status: int(n) for status, n in rows})
    finally:
        engine.dispose()


# --- modes -----------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    calls: int
    audio_s: float
    ingest_s: float = 0.0
    process_s: float = 0.0
    cpu_s: float = 0.0
    peak_mib: float = 0.0
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append((name, ok, detail))


class Worker:
    """One `callvault worker` process in a process group of its own (its prefork children
    die with it when the group is killed)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "callvault"), "worker", "--concurrency", "1"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class WorkerPool:
    """The `callvault worker` processes of one mode. The fault thread kills and restarts
    them while the main thread watches them, so both go through one lock."""

    def __init__(self, env: dict[str, str], logs: Path, sampler: Sampler) -> None:
        self.env, self.logs, self.sampler = env, logs, sampler
        self.workers: list[Worker] = []
        self.lock = threading.Lock()
        self.kills = 0
        self.self_exits = 0

    def _spawn(self, index: int) -> Worker:
        worker = Worker(self.env, self.logs / f"worker-{index}.log")
        self.sampler.watch(worker.process.pid)
        return worker

    def start(self, count: int) -> None:
        with self.lock:
            self.workers += [self._spawn(i) for i in range(count)]

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL one worker's process group at random and start another in its place."""
        with self.lock:
            index = rng.randrange(len(self.workers))
            self.workers[index].kill()
            self.kills += 1
            self.workers[index] = self._spawn(index)

    def check(self, restart: bool) -> None:
        """A worker that exited by itself: fail loudly, or (`restart`) count and replace it."""
        with self.lock:
            for index, worker in enumerate(self.workers):
                code = worker.process.poll()
                if code is None:
                    continue
                if not restart:
                    text = worker.path.read_text(errors="replace")[-3000:]
                    raise BenchError(f"callvault worker exited {code}: {text}")
                worker.kill()
                self.self_exits += 1
                self.workers[index] = self._spawn(index)

    def stop(self) -> None:
        with self.lock:
            for worker in self.workers:
                worker.stop()
            self.workers.clear()

    def kill_all(self) -> None:
        with self.lock:
            for worker in self.workers:
                worker.kill()
            self.workers.clear()


def ingest_all(env: dict[str, str], paths: list[Path], batch: int, first: int = 0) -> list[str]:
    ids = []
    for start in range(0, len(paths), batch):
        done = ingest(env, paths[start : start + batch], first + start // batch)
        if done.returncode:
            raise BenchError(f"callvault ingest exited {done.returncode}: {done.stderr.strip()}")
        ids += call_ids(done)
    return ids


def final_checks(env: dict[str, str], result: Result, ids: list[str]) -> None:
    jobs = json.loads(callvault(env, "jobs", "list", "--json").stdout)["jobs"]
    stored = json.loads(
        callvault(env, "audit", "list", "--action", "transcript.store", "--json").stdout
    )["entries"]
    per_call = Counter(
        (e.get("details") or {}).get("call_id") for e in stored if isinstance(e, dict)
    )
    listed = json.loads(callvault(env, "list", "--json").stdout)["calls"]
    result.check(
        "every call stored", len(listed) == len(set(ids)) == result.calls, f"{len(listed)} listed"
    )
    wrong = [cid for cid in set(ids) if per_call.get(cid, 0) != 1]
    result.check(
        "exactly one transcript per call",
        not wrong,
        f"{len(wrong)} call(s) with 0 or several stores; most {max(per_call.values(), default=0)}",
    )
    statuses = Counter((e.get("details") or {}).get("status") for e in stored)
    result.check(
        "every transcript holds speech", set(statuses) == {"done"}, f"statuses {dict(statuses)}"
    )
    running = [j for j in jobs if j["status"] == "running"]
    result.check("no job running", not running, f"{len(running)} running")
    failed = [j for j in jobs if j["status"] == "failed"]
    result.check(
        "no job failed",
        not failed,
        f"{len(failed)} failed"
        + (f" ({failed[0]['last_error'][:80]})" if failed and failed[0]["last_error"] else ""),
    )
    verify = callvault(env, "verify", "--all", check=False)
    result.check("verify --all exits 0", verify.returncode == 0, f"exit {verify.returncode}")
    audit = callvault(env, "audit", "verify", check=False)
    result.check("audit verify exits 0", audit.returncode == 0, f"exit {audit.returncode}")


def run_embedded(threads: int, paths: list[Path], audio_s: float, tmp: Path, batch: int) -> Result:
    result = Result(f"embedded-{threads}", len(paths), audio_s)
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(tmp / f"embedded-{threads}"),
        "CALLVAULT_LOG_LEVEL": "WARNING",
        "CALLVAULT_WORKERS": str(threads),
    }
    for key in ("CALLVAULT_DATABASE_URL", "CALLVAULT_QUEUE", "CALLVAULT_BLOB_STORE"):
        env.pop(key, None)
    callvault(env, "init")
    began = time.monotonic()
    ids = ingest_all(env, paths, batch)
    result.ingest_s = time.monotonic() - began
    sampler = Sampler().start()
    began = time.monotonic()
    runner = subprocess.Popen(
        [str(VENV_BIN / "callvault"), "jobs", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sampler.watch(runner.pid)
    _, err = runner.communicate()
    result.process_s = time.monotonic() - began
    sampler.stop()
    if runner.returncode:
        raise BenchError(f"callvault jobs run exited {runner.returncode}: {err.decode()[-3000:]}")
    result.cpu_s, result.peak_mib = sampler.cpu_s(), sampler.peak_kib / 1024
    final_checks(env, result, ids)
    return result


def wait_processed(
    db_url: str, expected: int, timeout: float, alive: object = None
) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        states = job_states(db_url)
        if sum(states[s] for s in FINAL) >= expected and not states["queued"] + states["running"]:
            return states
        if time.monotonic() > deadline:
            raise BenchError(f"transcription not finished after {timeout:.0f} s: {dict(states)}")
        if alive is not None:
            alive()  # type: ignore[operator]
        time.sleep(1.0)


def run_celery(
    workers: int,
    paths: list[Path],
    audio_s: float,
    tmp: Path,
    args: argparse.Namespace,
    faults: bool,
) -> Result:
    name = f"celery-{workers}" + ("-faults" if faults else "")
    result = Result(name, len(paths), audio_s)
    redis, moto = PrivateRedis(tmp), PrivateMoto(tmp)
    redis.start()
    moto.start()
    server: subprocess.Popen[bytes] | None = None
    pool: WorkerPool | None = None
    logs = tmp / f"{name}-logs"
    logs.mkdir()
    try:
        with private_database() as db_url:
            env = {
                **os.environ,
                "CALLVAULT_DATA_DIR": str(tmp / name),
                "CALLVAULT_LOG_LEVEL": "WARNING",
                "CALLVAULT_DATABASE_URL": db_url,
                "CALLVAULT_QUEUE": redis.url,
                "CALLVAULT_BLOB_STORE": f"s3://callvault-bench-{uuid.uuid4().hex[:8]}/calls",
                "CALLVAULT_S3_ENDPOINT_URL": moto.url,
                "CALLVAULT_S3_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
            }
            callvault(env, "init")  # creates the bucket
            port = free_port()
            with (logs / "serve.log").open("wb") as log:
                server = subprocess.Popen(
                    [str(VENV_BIN / "callvault"), "serve", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            import httpx

            def serving() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).is_success
                except httpx.TransportError:
                    return False

            wait_for("callvault serve", serving, server, logs / "serve.log", 120)
            late = max(2, len(paths) // 5) if faults else 0
            early, later = paths[: len(paths) - late], paths[len(paths) - late :]
            began = time.monotonic()
            ids = ingest_all(env, early, args.batch)
            result.ingest_s = time.monotonic() - began
            sampler = Sampler().start()
            sampler.watch(server.pid)
            began = time.monotonic()
            pool = WorkerPool(env, logs, sampler)
            pool.start(workers)

            def alive() -> None:
                if server is not None and server.poll() is not None:
                    tail = (logs / "serve.log").read_text(errors="replace")[-3000:]
                    raise BenchError(f"callvault serve exited {server.returncode}: {tail}")
                assert pool is not None
                pool.check(restart=faults)

            chaos: threading.Thread | None = None
            errors: list[str] = []
            if faults:
                chaos = threading.Thread(
                    target=inject_faults,
                    args=(env, pool, redis, later, ids, args, errors, result),
                    daemon=True,
                )
                chaos.start()
            expected = len(paths) if faults else len(ids)
            timeout = args.timeout or max(900.0, 4 * audio_s / workers)
            if chaos is not None:
                # The late calls are not in the ledger until they are ingested.
                deadline = time.monotonic() + timeout
                while chaos.is_alive() and time.monotonic() < deadline:
                    alive()
                    chaos.join(1.0)
                if errors:
                    raise BenchError(f"fault injection failed: {errors}")
            states = wait_processed(db_url, expected, timeout, alive)
            result.process_s = time.monotonic() - began
            sampler.stop()
            result.cpu_s, result.peak_mib = sampler.cpu_s(), sampler.peak_kib / 1024
            result.notes.append(f"job states at the end: {dict(states)}")
            pool.stop()
            if faults:
                result.check(
                    f"worker killed >= {args.kills} times",
                    pool.kills >= args.kills,
                    f"{pool.kills} kills",
                )
                result.notes.append(f"workers that exited by themselves: {pool.self_exits}")
            final_checks(env, result, ids)
            objects = s3_objects(moto.url, env["CALLVAULT_BLOB_STORE"])
            result.check("blobs are in the S3 store", objects > 0, f"{objects} objects")
            stop_server(server)
            server = None
    finally:
        if pool is not None:
            pool.kill_all()
        if server is not None:
            stop_server(server)
        redis.stop()
        moto.stop()
    return result


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def inject_faults(
    env: dict[str, str],
    pool: WorkerPool,
    redis: PrivateRedis,
    later: list[Path],
    ids: list[str],
    args: argparse.Namespace,
    errors: list[str],
    result: Result,
) -> None:
    """Kill workers at random moments, stop Redis while a batch is ingested, ingest the
    late calls; runs in a thread beside the processing (`ids` grows with the late calls,
    `errors` gets what went wrong here)."""
    rng = random.Random(19)
    try:
        half = max(1, len(later) // 2)
        during, after = later[:half], later[half:]
        outage_at = time.monotonic() + args.outage_after
        batch_no = 9000
        while pool.kills < args.kills or during:
            if during and time.monotonic() >= outage_at:
                refused = outage(env, redis, during, batch_no, ids, args, result)
                during, batch_no = [], batch_no + 1
                if refused:
                    ids += ingest_all(env, refused, args.batch, batch_no)
                    batch_no += 1
                if after:
                    ids += ingest_all(env, after, args.batch, batch_no)
                    batch_no += 1
                continue
            time.sleep(rng.uniform(2.0, 2 * args.kill_every))
            if pool.kills < args.kills:
                pool.kill_one(rng)
    except BaseException as exc:  # reported by the main thread
        errors.append(f"{type(exc).__name__}: {exc}")


def outage(
    env: dict[str, str],
    redis: PrivateRedis,
    paths: list[Path],
    batch_no: int,
    ids: list[str],
    args: argparse.Namespace,
    result: Result,
) -> list[Path]:
    """Stop Redis, ingest `paths` meanwhile, start Redis again after `outage_seconds`
    whatever the ingest does (it may wait for the broker); record how the ingest ended.
    Returns the paths to ingest again (those refused)."""
    redis.stop()
    stopped = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            ingest_command(paths, batch_no), env=env, stdout=out, stderr=err, text=True
        )
        took: float | None = None
        try:
            process.wait(max(0.0, args.outage_seconds - (time.monotonic() - stopped)))
            took = time.monotonic() - stopped
        except subprocess.TimeoutExpired:
            pass
        returned_during = took is not None
        time.sleep(max(0.0, args.outage_seconds - (time.monotonic() - stopped)))
        redis.start()
        result.notes.append(f"Redis down {time.monotonic() - stopped:.0f} s")
        code: int | None = process.returncode
        if took is None:
            try:
                code = process.wait(300)
                took = time.monotonic() - stopped
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    when = "during the outage" if returned_during else "only after Redis was back"
    if code == 0:
        ids += [c["call_id"] for c in json.loads(stdout)["calls"]]
        outcome = f"{len(paths)} call(s) stored and queued, returned {when} ({took or 0:.0f} s)"
    elif code is None:
        outcome = "ingest hung for 300 s after Redis was back and was killed"
    else:
        last = (stderr.strip().splitlines() or ["(no stderr)"])[-1]
        outcome = f"refused with exit {code} {when}: {last[:160]}"
    result.notes.append(f"ingest during the Redis outage: {outcome}")
    clear = code == 0 or (code in (1, 2) and "Traceback" not in stderr)
    result.check("ingest in a Redis outage: stored, or a clear error", clear, outcome)
    return paths if code else []


# --- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each call")
    parser.add_argument(
        "--modes",
        default="embedded,celery",
        help="comma-separated: embedded (SQLite, local store, jobs run with 1 and 2 threads), "
        "celery (PostgreSQL, private Redis and moto S3, 1 and 2 workers)",
    )
    parser.add_argument("--batch", type=int, default=10, help="files per `callvault ingest`")
    parser.add_argument("--faults", action="store_true", help="also the 2-worker fault run")
    parser.add_argument("--kills", type=int, default=10, help="worker kills in the fault run")
    parser.add_argument("--kill-every", type=float, default=15.0, help="mean seconds between kills")
    parser.add_argument(
        "--outage-after", type=float, default=20.0, help="seconds into the fault run"
    )
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, help="seconds a mode may process (default: auto)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a check fails")
    args = parser.parse_args()
    modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if not modes <= {"embedded", "celery"}:
        parser.error(f"unknown mode(s): {', '.join(sorted(modes - {'embedded', 'celery'}))}")
    if args.faults and "celery" not in modes:
        parser.error("--faults needs the celery mode (--modes celery or embedded,celery)")
    if args.calls < 1 or args.seconds < 5:
        parser.error("give at least 1 call of at least 5 seconds")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="callvault-bench-scale-") as name:
        tmp = Path(name)
        (tmp / "calls").mkdir()
        print(f"Building {args.calls} calls of {args.seconds:.0f} s ...", flush=True)
        paths = build_calls(args.calls, args.seconds, tmp / "calls")
        audio_s = args.calls * args.seconds
        if "embedded" in modes:
            for threads in (1, 2):
                print(f"embedded, {threads} worker thread(s) ...", flush=True)
                results.append(run_embedded(threads, paths, audio_s, tmp, args.batch))
        if "celery" in modes:
            for workers in (1, 2):
                print(f"Celery, {workers} worker(s) ...", flush=True)
                results.append(run_celery(workers, paths, audio_s, tmp, args, faults=False))
            if args.faults:
                print("Celery, 2 workers, with faults ...", flush=True)
                results.append(run_celery(2, paths, audio_s, tmp, args, faults=True))

    print()
    print(
        machine_line(
            ["faster-whisper", "ctranslate2", "celery", "SQLAlchemy"],
            f"{args.calls} calls x {args.seconds:.0f} s of real English speech (eval-data), "
            "stereo 8 kHz mu-law; bench, services and workers on the same cores",
        )
    )
    rows = []
    for r in results:
        cores = r.cpu_s / r.process_s if r.process_s else 0.0
        rate = r.audio_s / r.process_s if r.process_s else 0.0
        rows.append(
            [
                r.mode,
                f"{r.ingest_s:.1f}",
                f"{r.process_s:.1f}",
                f"{rate:.1f}",
                f"{cores:.2f}",
                f"{rate / cores:.1f}" if cores else "-",
                f"{r.peak_mib:.0f}",
            ]
        )
    table(
        [
            "mode",
            "ingest wall s",
            "processing wall s",
            "call-h per h",
            "cores used",
            "call-h per h per core",
            "peak RSS MiB",
        ],
        rows,
    )
    table(
        ["mode", "check", "result", "detail"],
        [[r.mode, n, "pass" if ok else "FAIL", d] for r in results for n, ok, d in r.checks],
    )
    for r in results:
        for note in r.notes:
            print(f"{r.mode}: {note}")
    ok = all(passed for r in results for _, passed, _ in r.checks)
    print(f"All checks: {'pass' if ok else 'FAIL'}")
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    raise SystemExit(main())
