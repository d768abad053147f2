"""The audit log: an append-only list of entries chained by SHA-256.

Each entry's hash covers its own fields and the hash of the entry before it. The last
link is kept, signed with the vault's Ed25519 key, in `audit_head`, so removing entries
from the end is detected as well as editing, deleting, inserting or reordering entries
anywhere. Appenders lock the head row, which serialises them on PostgreSQL (SQLite
serialises writers already).

The lock is held from the append until the transaction ends, so a write session does not
append when asked: `defer` buffers the entry in the session and `append_deferred` adds
all of them (head locked and signed once) as the last statement before COMMIT (issue 19:
many writers on one PostgreSQL queue on the chain only for the time of an append, not
for the rest of every audited transaction). `append` and `append_many` are the immediate
path, for a caller that needs the entry's seq or hash inside its transaction.

The head is locked with `SELECT ... FOR UPDATE`, not `pg_advisory_xact_lock`: the append
updates the head row, so its row lock is taken anyway; an advisory lock would add a
second lock and a round trip, and in `bench/audit.py` it was no faster (equal with 16
writers, slower with 1 to 8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from callvault.vault._crypto import Signer
from callvault.vault._models import AuditHeadRow, AuditRow

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditFault",
    "AuditReport",
    "Entry",
    "append",
    "append_deferred",
    "append_many",
    "defer",
    "iter_entries",
    "newest_entries",
    "row_hash",
    "verify",
]

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str | None
    purpose: str | None
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "purpose": self.purpose,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class AuditFault:
    seq: int
    kind: str  # altered | missing | out-of-chain | truncated | head
    message: str


@dataclass(frozen=True)
class AuditReport:
    entries: int
    faults: tuple[AuditFault, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.faults


def _entry_hash(
    seq: int,
    at: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    purpose: str | None,
    details: str,
    prev_hash: str,
) -> str:
    body = json.dumps(
        [seq, at, actor, action, object_type, object_id, purpose, details, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def row_hash(row: AuditRow) -> str:
    """The hash a stored row should carry, recomputed from its fields."""
    return _entry_hash(
        row.seq,
        row.at,
        row.actor,
        row.action,
        row.object_type,
        row.object_id,
        row.purpose,
        row.details,
        row.prev_hash,
    )


def _head_message(seq: int, hash_: str) -> bytes:
    return f"callvault-audit-head:{seq}:{hash_}".encode()


@dataclass(frozen=True)
class Entry:
    """One entry to append with `append_many`."""

    action: str
    object_type: str
    object_id: str | None
    purpose: str | None = None
    details: Mapping[str, Any] | None = None
    actor: str | None = None  # None: the `actor` given to `append_many`


def append_many(
    session: Session, signer: Signer, *, actor: str, entries: Sequence[Entry]
) -> list[AuditEntry]:
    """Add several entries inside the caller's transaction, in order, signing the head
    once at the end (the head a reader can see is only ever the committed last one).
    The head row stays locked until the transaction ends: prefer `defer`."""
    if not entries:
        return []
    head = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()).one()
    seq, prev = head.seq, head.hash
    rows = []
    for entry in entries:
        seq += 1
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        details_text = json.dumps(dict(entry.details or {}), sort_keys=True, separators=(",", ":"))
        who = entry.actor or actor
        digest = _entry_hash(
            seq,
            at,
            who,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.purpose,
            details_text,
            prev,
        )
        rows.append(
            AuditRow(
                seq=seq,
                at=at,
                actor=who,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                purpose=entry.purpose,
                details=details_text,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    session.add_all(rows)
    head.seq, head.hash = seq, prev
    head.signature = signer.sign(_head_message(seq, prev))
    return [_to_entry(row) for row in rows]


def append(
    session: Session,
    signer: Signer,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    purpose: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry inside the caller's transaction (it commits with the change)."""
    entry = Entry(action, object_type, object_id, purpose, details)
    return append_many(session, signer, actor=actor, entries=[entry])[0]


_PENDING = "callvault.audit.pending"


def defer(session: Session, signer: Signer, entry: Entry) -> None:
    """Buffer `entry` (its `actor` set) to be appended when `session` commits: by
    `append_deferred`, called last by the vault's write session, or at the latest by the
    session's `before_commit`. Entries of a transaction that rolls back are dropped."""
    if entry.actor is None:
        raise ValueError("a deferred audit entry names its actor")
    pending: tuple[Signer, list[Entry]] = session.info.setdefault(_PENDING, (signer, []))
    pending[1].append(entry)


def append_deferred(session: Session) -> list[AuditEntry]:
    """Append the entries `defer` buffered in `session`, in order, in one `append_many`."""
    pending: tuple[Signer, list[Entry]] | None = session.info.pop(_PENDING, None)
    if pending is None or not pending[1]:
        return []
    signer, entries = pending
    return append_many(session, signer, actor="", entries=entries)


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    # A safety net for a session that commits without `append_deferred` (one committed
    # by hand): buffered entries are never lost.
    if _PENDING in session.info:
        append_deferred(session)
        session.flush()


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # What a rolled-back transaction buffered is not carried into the session's next one.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _to_entry(row: AuditRow) -> AuditEntry:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"unreadable": row.details}
    return AuditEntry(
        row.seq,
        row.at,
        row.actor,
        row.action,
        row.object_type,
        row.object_id,
        row.purpose,
        details,
        row.prev_hash,
        row.hash,
    )


def iter_entries(
    session: Session, *, object_id: str | None = None, action: str | None = None
) -> Iterator[AuditEntry]:
    query = select(AuditRow).order_by(AuditRow.seq)
    if object_id is not None:
        query = query.where(AuditRow.object_id == object_id)
    if action is not None:
        query = query.where(AuditRow.action == action)
    for row in session.scalars(query.execution_options(yield_per=1000)):
        yield _to_entry(row)


def newest_entries(
    session: Session,
    *,
    limit: int,
    offset: int = 0,
    object_id: str | None = None,
    action: str | None = None,
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and how many match in all: read from the
    database page by page, not the whole log."""
    filters = []
    if object_id is not None:
        filters.append(AuditRow.object_id == object_id)
    if action is not None:
        filters.append(AuditRow.action == action)
    total = session.scalar(select(func.count()).select_from(AuditRow).where(*filters)) or 0
    rows = session.scalars(
        select(AuditRow).where(*filters).order_by(AuditRow.seq.desc()).limit(limit).offset(offset)
    )
    return [_to_entry(row) for row in rows], int(total)


def verify(session: Session, signer: Signer) -> AuditReport:
    """Walk the whole chain and report every place where it does not hold."""
    faults: list[AuditFault] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)):
        count += 1
        if row.seq != expected_seq:
            faults.append(
                AuditFault(
                    expected_seq,
                    "missing",
                    f"entries {expected_seq}..{row.seq - 1} are missing: the chain jumps "
                    f"from entry {expected_seq - 1} to entry {row.seq}",
                )
            )
        if row_hash(row) != row.hash:
            faults.append(
                AuditFault(
                    row.seq,
                    "altered",
                    f"entry {row.seq} was altered: its content does not match its hash",
                )
            )
        elif row.prev_hash != prev_hash and row.seq == expected_seq:
            faults.append(
                AuditFault(
                    row.seq,
                    "out-of-chain",
                    f"entry {row.seq} does not link to entry {row.seq - 1}: an entry was "
                    "inserted, replaced or reordered here",
                )
            )
        expected_seq, prev_hash = row.seq + 1, row.hash
    head = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one_or_none()
    last_seq = expected_seq - 1
    if head is None:
        faults.append(AuditFault(last_seq, "head", "the signed head of the audit chain is missing"))
    else:
        if head.seq != 0 and not signer.verify(_head_message(head.seq, head.hash), head.signature):
            faults.append(
                AuditFault(head.seq, "head", "the signature of the audit chain's head is invalid")
            )
        if head.seq > last_seq:
            faults.append(
                AuditFault(
                    last_seq + 1,
                    "truncated",
                    f"entries {last_seq + 1}..{head.seq} were removed from the end of the "
                    f"chain (the signed head is at entry {head.seq})",
                )
            )
        elif head.seq < last_seq or head.hash != prev_hash:
            faults.append(
                AuditFault(
                    head.seq,
                    "head",
                    f"the chain ends at entry {last_seq}, which does not match the signed "
                    f"head (entry {head.seq}): entries were added or changed at the end",
                )
            )
    return AuditReport(count, tuple(faults))
