"""Many writers on one audit chain (issue 19): the head is locked only by the append that
ends a transaction, so concurrent units of work, slow ones included, neither queue behind
each other's open transaction nor break the chain."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from callvault.vault import Vault
from callvault.vault._models import AuditRow

# Only PostgreSQL has concurrent writers; SQLite's single writer serialises them anyway.
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _seqs(vault: Vault) -> list[int]:
    with vault.reading() as session:
        return list(session.scalars(select(AuditRow.seq).order_by(AuditRow.seq)))


def _run(threads: list[threading.Thread], timeout: float) -> None:
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "writers still running: a deadlock?"


def test_many_writers_one_dense_chain(vault: Vault) -> None:
    """8 threads x 50 units of work with two entries each, and two slow units of work
    that audit first and work 1 s before they commit: one verified chain, seqs 1..N."""
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                with vault.transaction(actor=f"writer-{n}") as tx:
                    tx.audit("test.write", "call", f"c{n}-{i}", details={"i": i})
                    tx.audit("test.write.more", "call", f"c{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def slow(n: int) -> None:
        try:
            with vault.transaction(actor=f"slow-{n}") as tx:
                tx.audit("test.slow", "call", f"slow-{n}")
                time.sleep(1.0)  # the "other work" of a long transaction, not a wait
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=slow, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    _run(threads, timeout=120)
    assert not failures
    report = vault.verify_audit()
    assert report.ok, report.faults
    assert _seqs(vault) == list(range(1, 8 * 50 * 2 + 2 + 1))
    entries = vault.audit_entries(action="test.write")
    assert len(entries) == 400
    # The two entries of one unit of work are appended together, in order.
    by_seq = {e.seq: e for e in vault.audit_entries()}
    for entry in entries:
        follower = by_seq[entry.seq + 1]
        assert (follower.action, follower.object_id, follower.actor) == (
            "test.write.more",
            entry.object_id,
            entry.actor,
        )


def test_open_transaction_does_not_hold_the_chain(vault: Vault) -> None:
    """A unit of work that has audited and is still open does not stop another process
    (here a thread with its own connection) from appending and committing."""
    audited, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def long_unit() -> None:
        try:
            with vault.transaction(actor="long") as tx:
                tx.audit("test.long", "call", "long")
                audited.set()
                assert release.wait(30)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=long_unit)
    thread.start()
    try:
        assert audited.wait(30)
        started = time.monotonic()
        vault.record_event("test.other", "call", "other")
        # Before issue 19 this waited until `long_unit` committed (30 s).
        assert time.monotonic() - started < 5
        assert [e.action for e in vault.audit_entries()] == ["test.other"]
    finally:
        release.set()
        thread.join(30)
    assert not failures and not thread.is_alive()
    assert [e.action for e in vault.audit_entries()] == ["test.other", "test.long"]
    assert vault.verify_audit().ok


def test_rolled_back_unit_appends_nothing(vault: Vault) -> None:
    with pytest.raises(RuntimeError), vault.transaction() as tx:
        tx.audit("test.lost", "call", "lost")
        raise RuntimeError("rolled back")
    vault.record_event("test.kept", "call", "kept")
    assert [(e.seq, e.action) for e in vault.audit_entries()] == [(1, "test.kept")]
    assert vault.verify_audit().ok
