"""Backup and restore (issue 21): `callvault backup` against `tar` and `pg_dump` on the
same vault in the same run, then SIGKILLs of `backup create` and tampered backups.

What one run does, per backend (SQLite, then PostgreSQL):

1. Builds a vault of ``--calls`` calls (default 10,000; ``--quick``: 300) through the real
   vault API (bench/_many_calls.py says what each call holds). Not timed against a peer.
2. Full backup of the idle vault (no callvault process runs), each tool into a
   directory of its own on the same disk:
   - SQLite: ``tar -cf`` of the data directory (database, write-ahead log, keys, blobs),
     and ``tar -I zstd -cf`` (zstd's default level 3). A tar of a LIVE SQLite database in
     WAL mode is not a consistent backup (the database file and its -wal are read at
     different moments); here the vault is idle, which is the best case for tar.
   - PostgreSQL: ``pg_dump -Fc`` (custom format, compressed) of the database plus
     ``cp -a`` of the data directory (blobs, and the keyring and signing key without
     which the blobs cannot be read).
   - callvault: ``callvault backup create --to DIR --json`` (the vault's key material
     sealed with a passphrase, CALLVAULT_BACKUP_PASSPHRASE).
3. ``--add`` more calls (default 100), then an incremental backup of each tool:
   ``tar --listed-incremental`` (level 1 after the level 0 of step 2), ``pg_dump -Fc``
   again (PostgreSQL has no incremental logical dump) plus ``cp -a -u`` (newer files
   only), ``callvault backup create --incremental``.
4. Restore of the latest state (full + incremental) into an empty data directory (and,
   PostgreSQL, a new empty database): ``tar -x`` of level 0 then level 1;
   ``pg_restore`` of the second dump plus ``cp -a`` back; ``callvault restore --from``.
   Each restored vault must hold the calls of the source (counted through the vault);
   the one callvault restored must also pass ``callvault verify --all`` and ``callvault
   audit verify``.

Wall time is measured around each command (the files are in the page cache: this is the
speed of the tools, not of the disk). Size is the bytes each tool wrote (apparent file
sizes; for an incremental run, the growth of the target).

Then, on the SQLite vault (``--faults-on postgresql`` for the other):

- Faults: ``callvault backup create`` into one target, SIGKILLed ``--kills`` times (default
  10) at moments drawn with a seeded RNG, the i-th uniform over the i-th tenth of the time
  a full run took in step 2. After each kill: ``backup list`` shows the killed set as
  incomplete or not at all, ``backup verify`` of it fails and says incomplete,
  ``restore`` of it is refused; then a ``backup create`` into the same target succeeds
  and verifies.
- Tamper: a copy of a good backup with one byte changed in (a) an object under
  objects/, (b) manifest.json, (c) one row of audit.jsonl, (d) database.enc; ``backup
  verify`` must exit non-zero and name the object, the manifest, the audit row's seq or
  the database file.

Results are Markdown tables (``--json``: one JSON document) on stdout, progress on stderr;
the exit status is 1 if a check failed. Until `callvault backup` exists (it prints only
its group help), only the peers are measured.

    python bench/backup.py                    # 10,000 calls, both backends
    python bench/backup.py --quick            # 300 calls, a smoke run
    python bench/backup.py --calls 2000 --backends sqlite --no-faults
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import machine_line, table
from _many_calls import BACKENDS, ManyCalls, ManyCallsOptions, many_calls, store_calls
from _scaleout import VENV_BIN, BenchError, private_database
from callvault.vault import Vault

PASSPHRASE = "bench: correct horse battery staple"


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One timed operation of one tool."""

    backend: str
    tool: str
    step: str  # "full", "incremental", "restore"
    wall_s: float
    size: int | None  # bytes written; None for a restore
    note: str = ""


@dataclass
class Report:
    calls: int
    measures: list[Measure] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    tamper: list[dict[str, object]] = field(default_factory=list)
    faults: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append((name, ok, detail))
        say(f"  {'pass' if ok else 'FAIL'}: {name} ({detail})")
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


# -- helpers -------------------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run `command`; its wall time, or BenchError with its stderr."""
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    if done.returncode:
        raise BenchError(f"{' '.join(command[:3])} ... exited {done.returncode}: {done.stderr}")
    return took


def tree_bytes(path: Path) -> int:
    """Apparent size of the files under `path` (or of the file `path`)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def libpq(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as the URL pg_dump and psql take."""
    return "postgresql://" + url.split("://", 1)[1]


def count_calls(data_dir: Path, database_url: str | None) -> int:
    from _many_calls import vault_config

    with Vault.open(vault_config(data_dir, database_url)) as vault:
        return vault.calls.count_calls()


def callvault_env(vault_env: dict[str, str]) -> dict[str, str]:
    """The process environment without any CALLVAULT_* of the caller, plus `vault_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    return {**env, "CALLVAULT_BACKUP_PASSPHRASE": PASSPHRASE, **vault_env}


def callvault(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(VENV_BIN / "callvault"), *args], env=env, capture_output=True, text=True
    )
    if check and done.returncode:
        raise BenchError(
            f"callvault {' '.join(args[:2])} exited {done.returncode}: {done.stderr[-3000:]}"
        )
    return done


def has_backup_commands() -> bool:
    """Whether this callvault has `backup create` (the issue 21 work)."""
    done = subprocess.run(
        [str(VENV_BIN / "callvault"), "backup", "create", "--help"],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


# -- the peers -----------------------------------------------------------------------------


class TarPeer:
    """tar (and tar | zstd) of the SQLite vault's data directory."""

    def __init__(self, built: ManyCalls, out: Path) -> None:
        self.built, self.out = built, out
        out.mkdir()
        self.snapshot = out / "level.snar"

    def _tar(self, *options: str, archive: Path) -> list[str]:
        data = self.built.data_dir
        return ["tar", *options, "-cf", str(archive), "-C", str(data.parent), data.name]

    def full(self) -> list[Measure]:
        plain, packed, level0 = (
            self.out / "full.tar",
            self.out / "full.tar.zst",
            self.out / "l0.tar",
        )
        took = timed(self._tar(archive=plain))
        zst = timed(self._tar("-I", "zstd", archive=packed))
        # The level 0 of the incremental pair (not reported: it is the same work as `full`).
        timed(self._tar(f"--listed-incremental={self.snapshot}", archive=level0))
        backend = self.built.backend
        return [
            Measure(backend, "tar", "full", took, tree_bytes(plain), "vault idle"),
            Measure(backend, "tar + zstd", "full", zst, tree_bytes(packed), "zstd -3"),
        ]

    def incremental(self) -> list[Measure]:
        level1 = self.out / "l1.tar"
        took = timed(self._tar(f"--listed-incremental={self.snapshot}", archive=level1))
        note = "--listed-incremental; the database file again in whole"
        return [Measure(self.built.backend, "tar", "incremental", took, tree_bytes(level1), note)]

    def restore(self, dest: Path, report: Report) -> list[Measure]:
        dest.mkdir()
        began = time.perf_counter()
        for level in ("l0.tar", "l1.tar"):
            timed(
                ["tar", "--listed-incremental=/dev/null", "-xf", str(self.out / level)]
                + [
                    "-C",
                    str(dest),
                ]
            )
        took = time.perf_counter() - began
        calls = count_calls(dest / self.built.data_dir.name, None)
        report.check("tar restore holds every call", calls == _calls_now(self.built), f"{calls}")
        return [Measure(self.built.backend, "tar", "restore", took, None, "level 0 + level 1")]


class PgDumpPeer:
    """pg_dump -Fc of the database plus cp -a of the data directory."""

    def __init__(self, built: ManyCalls, out: Path) -> None:
        self.built, self.out = built, out
        out.mkdir()
        self.copy = out / "data"

    def _dump(self, name: str) -> float:
        assert self.built.database_url is not None
        url = libpq(self.built.database_url)
        return timed(["pg_dump", "-Fc", "-f", str(self.out / name), "--dbname", url])

    def full(self) -> list[Measure]:
        dump = self._dump("full.dump")
        began = time.perf_counter()
        timed(["cp", "-a", str(self.built.data_dir), str(self.copy)])
        took = dump + time.perf_counter() - began
        size = tree_bytes(self.out / "full.dump") + tree_bytes(self.copy)
        return [Measure(self.built.backend, "pg_dump + cp -a", "full", took, size, "")]

    def incremental(self) -> list[Measure]:
        before = tree_bytes(self.copy)
        dump = self._dump("incr.dump")
        began = time.perf_counter()
        timed(["cp", "-a", "-u", f"{self.built.data_dir}/.", str(self.copy)])
        took = dump + time.perf_counter() - began
        size = tree_bytes(self.out / "incr.dump") + tree_bytes(self.copy) - before
        note = "a full dump again; cp -u copies newer files only"
        return [Measure(self.built.backend, "pg_dump + cp -a", "incremental", took, size, note)]

    def restore(self, dest: Path, report: Report, url: str) -> list[Measure]:
        began = time.perf_counter()
        timed(["pg_restore", "--no-owner", "--dbname", libpq(url), str(self.out / "incr.dump")])
        timed(["cp", "-a", str(self.copy), str(dest)])
        took = time.perf_counter() - began
        calls = count_calls(dest, url)
        report.check("pg_restore holds every call", calls == _calls_now(self.built), f"{calls}")
        return [Measure(self.built.backend, "pg_dump + cp -a", "restore", took, None, "")]


def _calls_now(built: ManyCalls) -> int:
    return count_calls(built.data_dir, built.database_url)


# -- callvault backup ----------------------------------------------------------------------


class CallvaultBackup:
    """`callvault backup create` / `restore` of one vault into one target directory."""

    def __init__(self, built: ManyCalls, target: Path) -> None:
        self.built, self.target = built, target
        self.env = callvault_env(built.env())
        self.full_s = 0.0

    def create(self, *extra: str) -> tuple[float, dict[str, object]]:
        began = time.perf_counter()
        done = callvault(self.env, "backup", "create", "--to", str(self.target), "--json", *extra)
        return time.perf_counter() - began, json.loads(done.stdout)

    def full(self) -> list[Measure]:
        took, _ = self.create()
        self.full_s = took
        size = tree_bytes(self.target)
        return [Measure(self.built.backend, "callvault backup", "full", took, size, "")]

    def incremental(self) -> list[Measure]:
        before = tree_bytes(self.target)
        took, _ = self.create("--incremental")
        size = tree_bytes(self.target) - before
        return [Measure(self.built.backend, "callvault backup", "incremental", took, size, "")]

    def restore(self, dest: Path, report: Report, url: str | None) -> list[Measure]:
        env = callvault_env({"CALLVAULT_DATA_DIR": str(dest), "CALLVAULT_LOG_LEVEL": "WARNING"})
        if url is not None:
            env["CALLVAULT_DATABASE_URL"] = url
        began = time.perf_counter()
        callvault(env, "restore", "--from", str(self.target), "--json")
        took = time.perf_counter() - began
        backend = self.built.backend
        calls = count_calls(dest, url)
        report.check(
            f"{backend}: callvault restore holds every call",
            calls == _calls_now(self.built),
            f"{calls}",
        )
        verify = callvault(env, "verify", "--all", check=False)
        report.check(
            f"{backend}: restored vault, verify --all", verify.returncode == 0, _tail(verify)
        )
        audit = callvault(env, "audit", "verify", check=False)
        report.check(
            f"{backend}: restored vault, audit verify", audit.returncode == 0, _tail(audit)
        )
        return [Measure(backend, "callvault backup", "restore", took, None, "")]


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines() or [""]
    return f"exit {done.returncode}: {lines[-1][:120]}"


def backup_sets(env: dict[str, str], target: Path) -> list[dict[str, object]]:
    """`backup list --from target --json`: one dict a set (id, complete, ...)."""
    done = callvault(env, "backup", "list", str(target), "--json")
    return list(json.loads(done.stdout)["backups"])


def set_id(entry: dict[str, object]) -> str:
    return str(entry["id"])


def verify(
    env: dict[str, str], source: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """`backup verify SOURCE --json`: the process and its reports (one a set)."""
    done = callvault(env, "backup", "verify", str(source), "--json", *extra, check=False)
    try:
        reports = list(json.loads(done.stdout)["backups"])
    except (ValueError, KeyError):
        reports = []  # an error message instead of a report: its text is what we have
    return done, reports


def faults_text(done: subprocess.CompletedProcess[str], reports: list[dict[str, Any]]) -> str:
    """What verify said was wrong: each fault's place and message, or its stderr."""
    faults = [f"{f['where']}: {f['message']}" for r in reports for f in r["faults"]]
    return "; ".join(faults) or done.stderr.strip()


# -- faults --------------------------------------------------------------------------------


def run_faults(
    built: ManyCalls, target: Path, full_s: float, kills: int, report: Report, seed: int
) -> None:
    """SIGKILL `backup create` `kills` times, the i-th at a moment uniform over the i-th
    slice of its run time (the shortest whole run seen, less 5 %: a draw after its end
    would kill nothing, and is drawn again, at most `kills` times); after each, what is
    left must not pass as a backup, and the next create must succeed and verify."""
    env = callvault_env(built.env())
    rng = random.Random(seed)
    scratch = target.parent / "fault-restore"
    command = [str(VENV_BIN / "callvault"), "backup", "create", "--to", str(target), "--json"]
    runtime, done_kills, attempts = full_s, 0, 0
    while done_kills < kills and attempts < 2 * kills:
        attempts += 1
        span = 0.95 * runtime / kills
        at = rng.uniform(done_kills * span, (done_kills + 1) * span)
        before = {set_id(s) for s in backup_sets(env, target)} if target.exists() else set()
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its threads and any child go with the group
        )
        try:
            process.wait(at)
            row: dict[str, object] = {"kill": "-", "at_s": round(at, 2), "set": "ended first"}
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            done_kills += 1
            row = {"kill": done_kills, "at_s": round(at, 2), "set": "absent"}
            sets = backup_sets(env, target) if target.exists() else []
            new = [s for s in sets if set_id(s) not in before]
            if new:
                row.update(killed_set(env, target, new[0], scratch))
        began = time.perf_counter()
        made = callvault(env, "backup", "create", "--to", str(target), "--json", check=False)
        took = time.perf_counter() - began
        row["next_create_s"] = round(took, 2)
        row["next_create_ok"] = made.returncode == 0
        if made.returncode == 0:
            runtime = min(runtime, took)
            checked, _ = verify(env, target, "--backup", json.loads(made.stdout)["id"])
            row["next_verifies"] = checked.returncode == 0
        report.faults.append(row)
        say(f"  attempt {attempts}, kill {done_kills}/{kills} at {at:.2f} s: {row}")
    killed = [r for r in report.faults if r["kill"] != "-"]
    bad = [r for r in killed if not r.get("passes", True)]
    report.check(
        f"{built.backend}: >= {kills} kills during backup create",
        len(killed) >= kills,
        f"{len(killed)} killed, {len(report.faults) - len(killed)} runs had ended first",
    )
    report.check(
        f"{built.backend}: no killed backup verifies or restores as whole",
        not bad,
        f"{len(bad)} did; "
        + ", ".join(f"{n} {s}" for s, n in Counter(str(r["set"]) for r in killed).items()),
    )
    nexts = [r for r in report.faults if not (r["next_create_ok"] and r.get("next_verifies"))]
    report.check(
        f"{built.backend}: the next backup create succeeds and verifies",
        not nexts,
        f"{len(report.faults) - len(nexts)}/{len(report.faults)}",
    )


def killed_set(
    env: dict[str, str], target: Path, entry: dict[str, Any], scratch: Path
) -> dict[str, object]:
    """What a killed run left as set `entry`: incomplete (no manifest yet), it must fail
    verify saying so and be refused by restore with a clear error; complete (killed after
    its manifest), it must verify. `passes` says whether it did what it must."""
    done, reports = verify(env, target, "--backup", set_id(entry))
    said = faults_text(done, reports)
    if entry["complete"]:
        return {"set": "complete", "verify_exit": done.returncode, "passes": done.returncode == 0}
    shutil.rmtree(scratch, ignore_errors=True)
    restore = callvault(
        callvault_env({"CALLVAULT_DATA_DIR": str(scratch)}),
        *("restore", "--from", str(target), "--backup", set_id(entry)),
        check=False,
    )
    refused = restore.returncode != 0 and "Traceback" not in restore.stderr
    says = (restore.stderr.strip().splitlines() or [""])[-1]
    return {
        "set": "incomplete",
        "verify_exit": done.returncode,
        "verify_says": said[:90],
        "restore_exit": restore.returncode,
        "restore_says": says[:90],
        "passes": done.returncode != 0 and "incomplete" in said.lower() and refused,
    }


# -- tamper --------------------------------------------------------------------------------


def flip(path: Path, at: int) -> None:
    """Change the byte at `at` of `path` to another printable byte."""
    data = bytearray(path.read_bytes())
    old = data[at]
    data[at] = ord("0") if old != ord("0") else ord("1")
    if not (0x20 <= old < 0x7F):
        data[at] = old ^ 0x01
    path.write_bytes(bytes(data))


def hex_position(text: str) -> int:
    """The place of a hex digit inside the first long hex string of `text` (a digest)."""
    run = 0
    for index, char in enumerate(text):
        run = run + 1 if char in "0123456789abcdef" else 0
        if run == 32:
            return index
    raise BenchError("no digest to change in the manifest")


def tamper_cases(good: Path) -> list[tuple[str, str, Path, int, str]]:
    """(case, what, file, offset, the name `verify` must say) for each tamper case."""
    [set_dir] = [p for p in sorted((good / "sets").iterdir()) if p.is_dir()][-1:]
    objects = sorted(p for p in (good / "objects").rglob("*") if p.is_file())
    blob = objects[len(objects) // 2]
    manifest = set_dir / "manifest.json"
    audit = set_dir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    row_no = len(lines) // 2
    row = json.loads(lines[row_no])
    # A byte of the row's action, inside the row: the line stays JSON, its hash does not.
    action = re.search(rb'"action":\s*"', lines[row_no])
    if action is None:
        raise BenchError(f"no action in audit row {row['seq']}")
    inside = action.end() + 1
    database = set_dir / "database.enc"
    return [
        ("object", blob.name, blob, blob.stat().st_size // 2, blob.name),
        ("manifest", "manifest.json", manifest, hex_position(manifest.read_text()), "manifest"),
        (
            "audit row",
            f"audit.jsonl row seq {row['seq']}",
            audit,
            sum(len(x) for x in lines[:row_no]) + inside,
            f"audit entry {row['seq']}",
        ),
        ("database", "database.enc", database, database.stat().st_size // 2, "database"),
    ]


def run_tamper(built: ManyCalls, good: Path, report: Report) -> None:
    env = callvault_env(built.env())
    for case, what, path, at, name in tamper_cases(good):
        copy = good.parent / f"tampered-{case.replace(' ', '-')}"
        shutil.copytree(good, copy)
        flip(copy / path.relative_to(good), at)
        done, reports = verify(env, copy)
        said = faults_text(done, reports)
        named = name.lower() in said.lower()
        report.tamper.append(
            {
                "case": case,
                "changed": what,
                "exit": done.returncode,
                "names_it": named,
                "output": said[:200],
            }
        )
        report.check(
            f"{built.backend}: tampered {case} fails verify and is named",
            done.returncode != 0 and named,
            f"exit {done.returncode}, {'named' if named else 'NOT named'}",
        )
        shutil.rmtree(copy)


# -- one backend ---------------------------------------------------------------------------


def run_backend(
    backend: str, args: argparse.Namespace, root: Path, report: Report, with_callvault: bool
) -> None:
    options = ManyCallsOptions(calls=args.calls, workers=args.workers)
    say(f"{backend}: building {args.calls} calls ...")
    with ExitStack() as stack:
        built = stack.enter_context(many_calls(root, backend, options, say))
        note = f"{built.calls} calls after {built.erased} erasures, built in {built.build_s:.0f} s"
        report.notes.append(f"{backend}: {note}")
        report.measures.append(
            Measure(backend, "(source vault)", "-", built.build_s, source_bytes(built), note)
        )
        peer: TarPeer | PgDumpPeer
        peer = (
            TarPeer(built, root / f"{backend}-tar")
            if backend == "sqlite"
            else PgDumpPeer(built, root / f"{backend}-pgdump")
        )
        ours = CallvaultBackup(built, root / f"{backend}-callvault")
        say(f"{backend}: full backups ...")
        report.measures += peer.full()
        if with_callvault:
            report.measures += ours.full()
        say(f"{backend}: adding {args.add} calls, incremental backups ...")
        store_calls(
            built.config(), ManyCallsOptions(calls=args.add, workers=1, first=args.calls), say
        )
        report.measures += peer.incremental()
        if with_callvault:
            report.measures += ours.incremental()
        say(f"{backend}: restores ...")
        urls = (
            [stack.enter_context(private_database()) for _ in range(2)]
            if (backend == "postgresql")
            else [None, None]
        )
        if isinstance(peer, TarPeer):
            report.measures += peer.restore(root / f"{backend}-tar-restored", report)
        else:
            assert urls[0] is not None
            report.measures += peer.restore(root / f"{backend}-pg-restored", report, urls[0])
        if with_callvault:
            report.measures += ours.restore(root / f"{backend}-cv-restored", report, urls[1])
            if backend in args.faults_on and args.kills:
                say(f"{backend}: {args.kills} kills of backup create ...")
                run_faults(
                    built, root / f"{backend}-faults", ours.full_s, args.kills, report, args.seed
                )
            if backend in args.faults_on:
                say(f"{backend}: tampered backups ...")
                run_tamper(built, ours.target, report)
        for path in sorted(root.iterdir()):
            if path.name.startswith(backend):
                shutil.rmtree(path, ignore_errors=True)


def source_bytes(built: ManyCalls) -> int:
    size = tree_bytes(built.data_dir)
    if built.database_url is not None:
        from sqlalchemy import create_engine, text

        engine = create_engine(built.database_url)
        try:
            with engine.connect() as conn:
                size += int(
                    conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
                )
        finally:
            engine.dispose()
    return size


# -- output --------------------------------------------------------------------------------


def print_tables(report: Report, args: argparse.Namespace, with_callvault: bool) -> None:
    print(
        machine_line(
            ["SQLAlchemy", "psycopg", "cryptography"],
            f"{args.calls} calls + {args.add}, each a 2 s stereo 8 kHz mu-law WAV with a "
            "transcript; page cache warm, one disk for source and targets",
        )
    )
    if not with_callvault:
        print("callvault backup is not there yet: only the peers were measured.\n")
    table(
        ["backend", "tool", "step", "wall s", "size MB", "note"],
        [
            [
                m.backend,
                m.tool,
                m.step,
                f"{m.wall_s:.2f}",
                "-" if m.size is None else f"{m.size / 1e6:.1f}",
                m.note,
            ]
            for m in report.measures
        ],
    )
    if report.faults:
        keys = ["kill", "at_s", "set", "verify_exit", "restore_exit", "passes", "next_create_s"]
        keys += ["next_create_ok", "next_verifies"]
        table(keys, [[str(row.get(k, "-")) for k in keys] for row in report.faults])
    if report.tamper:
        keys = ["case", "changed", "exit", "names_it", "output"]
        table(keys, [[str(row[k]).replace("|", "/") for k in keys] for row in report.tamper])
    table(
        ["check", "result", "detail"],
        [[n, "pass" if ok else "FAIL", d] for n, ok, d in report.checks],
    )
    print(f"All checks: {'pass' if report.ok else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="300 calls, 3 kills: a smoke run")
    parser.add_argument("--add", type=int, default=100, help="calls added before --incremental")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="processes storing the calls")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--faults-on", default="sqlite", help="backends of faults and tamper")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--peers-only", action="store_true", help="skip callvault backup")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.kills = 300, 3
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    args.faults_on = set() if args.no_faults else set(args.faults_on.split(","))
    if args.calls < 10:
        parser.error("give at least 10 calls")
    with_callvault = not args.peers_only and has_backup_commands()
    report = Report(args.calls)
    with tempfile.TemporaryDirectory(prefix="callvault-bench-backup-") as tmp:
        for backend in backends:
            run_backend(backend, args, Path(tmp), report, with_callvault)
    if args.json:
        print(
            json.dumps(
                {
                    "calls": args.calls,
                    "added": args.add,
                    "callvault_measured": with_callvault,
                    "measures": [asdict(m) for m in report.measures],
                    "faults": report.faults,
                    "tamper": report.tamper,
                    "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in report.checks],
                    "ok": report.ok,
                },
                indent=2,
            )
        )
    else:
        print_tables(report, args, with_callvault)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
