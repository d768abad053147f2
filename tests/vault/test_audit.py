"""The audit chain detects an edited, deleted, inserted, reordered or cut-off entry."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from callvault.vault import Vault
from callvault.vault._audit import append, row_hash
from callvault.vault._models import AuditHeadRow, AuditRow


@pytest.fixture
def chain(vault: Vault) -> Vault:
    with Session(vault._writer) as session, session.begin():
        for i in range(1, 6):
            append(
                session,
                vault.signer,
                actor="test",
                action="call.show",
                object_type="call",
                object_id=f"call-{i}",
                purpose=f"look {i}",
                details={"n": i},
            )
    return vault


def faults(vault: Vault) -> list[tuple[int, str, str]]:
    return [(f.seq, f.kind, f.message) for f in vault.verify_audit().faults]


def test_intact_chain(chain: Vault) -> None:
    report = chain.verify_audit()
    assert report.ok and report.entries == 5
    entries = chain.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert (entries[2].actor, entries[2].purpose, entries[2].details) == (
        "test",
        "look 3",
        {"n": 3},
    )


def test_edited_entry(chain: Vault) -> None:
    with Session(chain.engine) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.seq == 3).values(actor="mallory"))
    assert faults(chain) == [
        (3, "altered", "entry 3 was altered: its content does not match its hash"),
    ]


def test_deleted_entry(chain: Vault) -> None:
    with Session(chain.engine) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 2))
    assert faults(chain) == [
        (2, "missing", "entries 2..2 are missing: the chain jumps from entry 1 to entry 3"),
    ]


def test_inserted_entry(chain: Vault) -> None:
    # Renumber 4 and 5 upwards and forge a well-formed entry 4 in between.
    with Session(chain.engine) as session, session.begin():
        rows = {r.seq: r for r in session.scalars(select(AuditRow))}
        for seq in (5, 4):
            session.execute(update(AuditRow).where(AuditRow.seq == seq).values(seq=seq + 1))
        from callvault.vault._audit import _entry_hash

        forged = dict(
            at=rows[3].at,
            actor="mallory",
            action="call.show",
            object_type="call",
            object_id="call-x",
            purpose=None,
            details="{}",
            prev_hash=rows[3].hash,
        )
        digest = _entry_hash(4, **forged)  # type: ignore[arg-type]
        session.execute(insert(AuditRow).values(seq=4, hash=digest, **forged))
    found = faults(chain)
    assert (5, "altered", "entry 5 was altered: its content does not match its hash") in found
    assert found[-1][1] == "head"


def test_reordered_entries(chain: Vault) -> None:
    with Session(chain.engine) as session, session.begin():
        two = session.get(AuditRow, 2)
        three = session.get(AuditRow, 3)
        assert two and three
        fields = [
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "purpose",
            "details",
            "prev_hash",
            "hash",
        ]
        a = {f: getattr(two, f) for f in fields}
        b = {f: getattr(three, f) for f in fields}
        for f in fields:
            setattr(two, f, b[f])
            setattr(three, f, a[f])
    found = faults(chain)
    assert found[0] == (2, "altered", "entry 2 was altered: its content does not match its hash")
    assert (3, "altered", "entry 3 was altered: its content does not match its hash") in found


def test_relinked_entry_is_out_of_chain(chain: Vault) -> None:
    # An attacker who recomputes entry 3's hash after editing it still breaks entry 4's link.
    with Session(chain.engine) as session, session.begin():
        row = session.get(AuditRow, 3)
        assert row is not None
        row.actor = "mallory"
        row.hash = row_hash(row)
    assert faults(chain) == [
        (
            4,
            "out-of-chain",
            "entry 4 does not link to entry 3: an entry was inserted, replaced or reordered here",
        ),
    ]


def test_cut_off_end(chain: Vault) -> None:
    with Session(chain.engine) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq >= 4))
    assert faults(chain) == [
        (
            4,
            "truncated",
            "entries 4..5 were removed from the end of the chain (the signed head is at entry 5)",
        ),
    ]


def test_forged_head(chain: Vault) -> None:
    with Session(chain.engine) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 5))
        last = session.get(AuditRow, 4)
        assert last is not None
        session.execute(update(AuditHeadRow).values(seq=4, hash=last.hash))
    assert faults(chain) == [(4, "head", "the signature of the audit chain's head is invalid")]


def test_many_threads_append_one_unbroken_chain(vault: Vault) -> None:
    """A server's request threads all audit: they queue for the writer (on SQLite, on a
    lock of the process first), and a write that fails gives the writer back."""
    failures: list[BaseException] = []

    def reader(n: int) -> None:
        try:
            for i in range(15):
                vault.record_event("test.read", "call", f"c{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def failing() -> None:
        with pytest.raises(RuntimeError), vault._write():
            raise RuntimeError("rolled back")

    failing()
    threads = [threading.Thread(target=reader, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    failing()
    for thread in threads:
        thread.join(60)
    assert not failures and not any(t.is_alive() for t in threads)
    report = vault.verify_audit()
    assert report.ok
    assert len(vault.audit_entries(action="test.read")) == 300
