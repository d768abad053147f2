"""What a backup reads out of a database snapshot, and checks offline (issue 21).

`snapshot_contents` runs inside the snapshot's own transaction (`dump_database`'s
`inspect`): the blobs its rows name, the audit chain with its signed head and the erasure
ledger's head, all as of that one moment. `check_exported_audit` walks such an exported
chain without any database, with only the vault's public key, so a backup's copy of the
audit log is checked without restoring it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select

from callvault.vault import _audit
from callvault.vault._audit import GENESIS, AuditFault, AuditReport
from callvault.vault._models import (
    ArtifactRow,
    AuditHeadRow,
    AuditRow,
    CallRow,
    RecordingRow,
    RefusalRow,
    TranscriptRow,
)

__all__ = [
    "SnapshotBlob",
    "SnapshotContents",
    "audit_line",
    "check_exported_audit",
    "snapshot_contents",
]

_AUDIT_FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "purpose",
    "details",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class SnapshotBlob:
    """A blob the snapshot's rows name: its key, and its ciphertext's hash and size as
    the rows record them (None where a row keeps no hash, e.g. a refusal's quarantine)."""

    key: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class SnapshotContents:
    blobs: tuple[SnapshotBlob, ...]
    audit_rows: tuple[dict[str, Any], ...]  # every column of audit_log, by seq
    audit_head: dict[str, Any] | None  # {"seq", "hash", "signature"}
    calls: int


def snapshot_contents(conn: Connection) -> SnapshotContents:
    """Read the blob keys, the audit chain and its head through `conn` (the snapshot)."""
    blobs: dict[str, SnapshotBlob] = {}
    for model in (RecordingRow, TranscriptRow, ArtifactRow):
        query = select(model.blob_key, model.ciphertext_sha256, model.ciphertext_size)
        for key, sha, size in conn.execute(query):
            blobs[str(key)] = SnapshotBlob(str(key), str(sha), int(size))
    refusals = select(RefusalRow.quarantine_key, RefusalRow.quarantine_ciphertext_size).where(
        RefusalRow.quarantine_key.is_not(None)
    )
    for quarantine, qsize in conn.execute(refusals):
        blobs.setdefault(
            str(quarantine),
            SnapshotBlob(str(quarantine), None, int(qsize) if qsize is not None else None),
        )
    table = AuditRow.__table__
    rows = tuple(
        {name: row._mapping[name] for name in _AUDIT_FIELDS}
        for row in conn.execute(select(table).order_by(table.c.seq))
    )
    head = conn.execute(
        select(AuditHeadRow.seq, AuditHeadRow.hash, AuditHeadRow.signature).where(
            AuditHeadRow.id == 1
        )
    ).first()
    calls = conn.execute(select(func.count()).select_from(CallRow)).scalar_one()
    return SnapshotContents(
        blobs=tuple(sorted(blobs.values(), key=lambda b: b.key)),
        audit_rows=rows,
        audit_head=(
            {"seq": int(head.seq), "hash": str(head.hash), "signature": str(head.signature)}
            if head is not None
            else None
        ),
        calls=int(calls),
    )


def _fault(seq: int, kind: str, message: str) -> AuditFault:
    return AuditFault(seq, kind, message)


def check_exported_audit(
    rows: Iterable[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    public_key: Ed25519PublicKey,
) -> AuditReport:
    """Walk an exported chain (rows as `snapshot_contents` gives them) and its signed head
    as `_audit.verify` walks the table: every altered, missing, inserted or reordered
    entry and a head that does not match or is not signed by `public_key` is a fault."""
    faults: list[AuditFault] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        try:
            seq = int(row["seq"])
            fields = [row[name] for name in _AUDIT_FIELDS[:-1]]
        except (KeyError, TypeError, ValueError):
            faults.append(_fault(expected_seq, "altered", f"entry {expected_seq} is unreadable"))
            expected_seq += 1
            continue
        if seq != expected_seq:
            faults.append(
                _fault(
                    expected_seq,
                    "missing",
                    f"entries {expected_seq}..{seq - 1} are missing: the chain jumps from "
                    f"entry {expected_seq - 1} to entry {seq}",
                )
            )
        if _audit._entry_hash(*fields) != row.get("hash"):
            faults.append(
                _fault(
                    seq, "altered", f"entry {seq} was altered: its content does not match its hash"
                )
            )
        elif row.get("prev_hash") != prev_hash and seq == expected_seq:
            faults.append(
                _fault(
                    seq,
                    "out-of-chain",
                    f"entry {seq} does not link to entry {seq - 1}: an entry was inserted, "
                    "replaced or reordered here",
                )
            )
        expected_seq, prev_hash = seq + 1, str(row.get("hash"))
    last_seq = expected_seq - 1
    if head is None:
        faults.append(_fault(last_seq, "head", "the signed head of the audit chain is missing"))
        return AuditReport(count, tuple(faults))
    head_seq, head_hash = int(head["seq"]), str(head["hash"])
    if head_seq != 0:
        try:
            public_key.verify(
                bytes.fromhex(str(head["signature"])), _audit._head_message(head_seq, head_hash)
            )
        except (InvalidSignature, ValueError):
            faults.append(
                _fault(head_seq, "head", "the signature of the audit chain's head is invalid")
            )
    if head_seq > last_seq:
        faults.append(
            _fault(
                last_seq + 1,
                "truncated",
                f"entries {last_seq + 1}..{head_seq} were removed from the end of the chain "
                f"(the signed head is at entry {head_seq})",
            )
        )
    elif head_seq < last_seq or head_hash != prev_hash:
        faults.append(
            _fault(
                head_seq,
                "head",
                f"the chain ends at entry {last_seq}, which does not match the signed head "
                f"(entry {head_seq}): entries were added or changed at the end",
            )
        )
    return AuditReport(count, tuple(faults))


def audit_line(row: Mapping[str, Any]) -> bytes:
    """One exported audit row as a line of JSON (its fields as stored, details as text)."""
    return json.dumps(dict(row), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
