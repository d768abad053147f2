"""Copies of the erasure ledger kept apart from the data: one object per entry under
`ledger/` of a backup location (or of CALLVAULT_ERASURE_LEDGER_TO), created once and never
overwritten, so a restore finds every erasure made after its backup (issue 21)."""

from __future__ import annotations

from collections.abc import Iterable

from callvault.backup._target import BackupTarget

__all__ = ["LEDGER_PREFIX", "copy_ledger_entries", "ledger_name"]

LEDGER_PREFIX = "ledger/"


def ledger_name(seq: int) -> str:
    return f"{LEDGER_PREFIX}{seq:012d}.json"


def copy_ledger_entries(
    target: BackupTarget, entries: Iterable[tuple[int, bytes]], *, present: set[str] | None = None
) -> int:
    """Write the entries (seq, JSON document) that `target` does not hold yet; returns how
    many were written. `present`: the names known to be there (listed when None)."""
    have = set(target.list(LEDGER_PREFIX)) if present is None else present
    written = 0
    for seq, document in entries:
        name = ledger_name(seq)
        if name in have:
            continue
        try:
            target.put_new(name, document)
        except FileExistsError:
            pass
        else:
            written += 1
        have.add(name)
    return written
