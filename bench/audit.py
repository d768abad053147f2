"""Benchmark of the audit chain with many writers on one PostgreSQL (issue 19).

Every audited unit of work appends to one chain whose signed head is a single row. What
one run measures, on a database of its own (created, then dropped) on the local
PostgreSQL:

* W concurrent writers (``--writers``, default 1 2 4 8 16 threads, each on its own
  connection of the vault's pool) each repeat for ``--seconds`` one realistic unit of
  work: insert a small row, audit it, and (variant "20 ms work") do 20 ms of other work
  inside the transaction after the audit call, as a service does when it audits first and
  goes on writing. Reported: units committed per second, p50/p95 latency of a unit.
* Meanwhile two readers, each on its own connection, repeat (a) a plain read that is not
  audited (the newest rows of the table) and (b) an audited read (`record_event` in a
  transaction of its own, as `get_call` does). Reported: their p95 latency.

Modes, all measured in the same run:

* ``raw``: the peer: the same row inserted with plain SQL, no audit chain at all;
* ``locked at audit``: the behaviour before issue 19: the head row is locked
  (``SELECT ... FOR UPDATE``) by the audit call and stays locked until the commit;
* ``deferred``: callvault now: ``tx.audit`` buffers the entry, appended with the head
  locked as the last statement before COMMIT;
* ``advisory``: the append at the same place, but serialised by
  ``pg_advisory_xact_lock`` taken before the head row is read (the alternative to the row
  lock; the head row is still updated, so its row lock is still taken). The audited
  reads of this mode take the advisory lock too.

Results are Markdown tables on stdout; the exit status is 0 whatever the verdicts.

Run it from the repository root (PostgreSQL reachable at ``--admin-url``)::

    .venv/bin/python bench/audit.py                 # 5 s per cell, about 4 minutes
    .venv/bin/python bench/audit.py --seconds 1 --writers 1 8
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, make_url, text

from _common import machine_line, table, verdict
from callvault.config import load_config
from callvault.vault import Vault
from callvault.vault._audit import append

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MODES = ("raw", "locked at audit", "deferred", "advisory")
_INSERT = text("INSERT INTO bench_rows (call_id, note) VALUES (:call_id, 'x')")
_LOCK_KEY = 0x19A0D17  # any constant: the one advisory lock of the chain


def _unit(vault: Vault, mode: str, work_s: float) -> Callable[[str], None]:
    """One unit of work of `mode`: insert a row, audit it, work, commit."""

    def raw(call_id: str) -> None:
        with vault.engine.begin() as conn:
            conn.execute(_INSERT, {"call_id": call_id})
            if work_s:
                time.sleep(work_s)

    def locked(call_id: str) -> None:
        with vault.transaction(actor="bench") as tx:
            tx.session.execute(_INSERT, {"call_id": call_id})
            append(
                tx.session,
                vault.signer,
                actor="bench",
                action="bench.write",
                object_type="call",
                object_id=call_id,
            )
            if work_s:
                time.sleep(work_s)

    def deferred(call_id: str) -> None:
        with vault.transaction(actor="bench") as tx:
            tx.session.execute(_INSERT, {"call_id": call_id})
            tx.audit("bench.write", "call", call_id)
            if work_s:
                time.sleep(work_s)

    def advisory(call_id: str) -> None:
        with vault.transaction(actor="bench") as tx:
            tx.session.execute(_INSERT, {"call_id": call_id})
            if work_s:
                time.sleep(work_s)
            tx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            append(
                tx.session,
                vault.signer,
                actor="bench",
                action="bench.write",
                object_type="call",
                object_id=call_id,
            )

    units = {"raw": raw, "locked at audit": locked, "deferred": deferred, "advisory": advisory}
    return units[mode]


@dataclass
class Cell:
    units: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    audited: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0


def _loop(
    stop: threading.Event, into: list[float], errors: list[str], op: Callable[[], None]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            op()
        except Exception as exc:  # noqa: BLE001 - counted and printed, never hidden
            errors.append(type(exc).__name__)
            continue
        into.append(time.perf_counter() - started)


def run_cell(vault: Vault, mode: str, writers: int, work_s: float, seconds: float) -> Cell:
    cell = Cell()
    stop = threading.Event()
    unit = _unit(vault, mode, work_s)

    def writer(n: int) -> Callable[[], None]:
        counter = iter(range(1 << 62))
        return lambda: unit(f"w{n}-{next(counter)}")

    def plain_read() -> None:
        with vault.engine.connect() as conn:
            conn.execute(text("SELECT id, call_id FROM bench_rows ORDER BY id DESC LIMIT 20"))

    def audited_read() -> None:
        if mode != "advisory":
            vault.record_event("bench.read", "call", "read", purpose="bench")
            return
        # Every appender must queue on the advisory lock, or it jumps the queue.
        with vault.transaction(actor="bench", purpose="bench") as tx:
            tx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            append(
                tx.session,
                vault.signer,
                actor="bench",
                action="bench.read",
                object_type="call",
                object_id="read",
            )

    jobs = [(cell.units, writer(n)) for n in range(writers)]
    jobs += [(cell.plain, plain_read), (cell.audited, audited_read)]
    threads = [
        threading.Thread(target=_loop, args=(stop, into, cell.errors, op)) for into, op in jobs
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)  # the measuring window, not a synchronisation
    stop.set()
    for thread in threads:
        thread.join(120)
    cell.wall = time.perf_counter() - started
    return cell


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) * 1000:.1f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()

    name = f"callvault_bench_audit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    results: dict[tuple[str, float, int], Cell] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="callvault-bench-audit-") as tmp:
            config = load_config(env={}, data_dir=Path(tmp) / "data", database_url=url)
            with Vault.open(config) as vault:
                with vault.engine.begin() as conn:
                    conn.execute(
                        text(
                            "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, "
                            "call_id text NOT NULL, note text NOT NULL, "
                            "at timestamptz NOT NULL DEFAULT now())"
                        )
                    )
                for work_ms in args.work_ms:
                    for writers in args.writers:
                        for mode in MODES:
                            print(f"{mode}, {work_ms:g} ms work, W={writers} ...", flush=True)
                            results[(mode, work_ms, writers)] = run_cell(
                                vault, mode, writers, work_ms / 1000, args.seconds
                            )
                report = vault.verify_audit()
                entries = report.entries
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print()
    print(
        machine_line(
            ["sqlalchemy", "psycopg"],
            f"PostgreSQL on loopback, one process, {args.seconds:g} s per cell, "
            "2 reader threads beside the writers",
        )
    )
    rows = []
    for (mode, work_ms, writers), cell in results.items():
        rows.append(
            [
                f"{work_ms:g}",
                str(writers),
                mode,
                f"{len(cell.units) / cell.wall:.0f}",
                ms(cell.units, 50),
                ms(cell.units, 95),
                ms(cell.plain, 95),
                ms(cell.audited, 95),
                str(len(cell.errors)),
            ]
        )
    table(
        [
            "work ms",
            "W",
            "mode",
            "units/s",
            "unit p50 ms",
            "unit p95 ms",
            "plain read p95 ms",
            "audited read p95 ms",
            "errors",
        ],
        rows,
    )
    errors = sum(len(c.errors) for c in results.values())
    print(f"Chain after the run: {entries} entries, verified: {verdict(report.ok)}")
    checks = []
    for work_ms in args.work_ms:
        if work_ms == 0:
            continue
        top = max(args.writers)
        raw = len(results[("raw", work_ms, top)].units)
        new = len(results[("deferred", work_ms, top)].units)
        old = len(results[("locked at audit", work_ms, top)].units)
        checks.append(
            f"{work_ms:g} ms work, W={top}: deferred >= 0.5 x raw throughput "
            f"({new / max(raw, 1):.2f}): {verdict(new >= 0.5 * raw)}; "
            f">= 2 x locked at audit ({new / max(old, 1):.1f}): {verdict(new >= 2 * old)}"
        )
    for line in checks:
        print(f"Target: {line}")
    print(f"Target: no errors ({errors}): {verdict(errors == 0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
