"""The erasure ledger at restore (issue 21): erasures made after a backup are made again.

`services.backup` copies the ledger into every backup and, once an older database is
loaded, calls `replay_erasures` with the newest ledger it can find, before the restored
vault serves anyone. Besides the vault's own replay (`vault.ledger.replay`), what else
goes with an erased call goes here too, as with a data subject's erasure
(`services.rights.erase_subject`): its search rows first (the only other copy of its
transcript text), its queued jobs in the same commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from callvault.jobs import cancel_jobs_of
from callvault.search import SearchIndex
from callvault.services._context import Context
from callvault.vault import LedgerEntry, ReplayReport

__all__ = ["ledger_entries", "replay_erasures"]

log = logging.getLogger("callvault.services")


def ledger_entries(ctx: Context, after_seq: int = 0) -> list[LedgerEntry]:
    """The vault's ledger entries after `after_seq`, oldest first (ids only: not audited)."""
    return ctx.vault.ledger.entries(after_seq)


def replay_erasures(ctx: Context, entries: Sequence[LedgerEntry]) -> ReplayReport:
    """Carry out again every erasure `entries` record on the vault of `ctx` (a restored
    one): calls and their search rows and jobs, rewritten recordings' old audio, refusal
    quarantines, key-encryption keys. Holds and restrictions do not stop it; each entry
    gets a `ledger.replay` certificate in the audit chain. Entries already replayed find
    nothing and say so."""
    vault = ctx.vault
    doomed = vault.ledger.calls_to_erase(entries)
    if doomed:
        SearchIndex(vault.engine, vault.search_key).purge_calls(doomed)
    with vault.transaction(actor=ctx.actor) as tx:
        report = vault.ledger.replay(entries, actor=ctx.actor, tx=tx)
        if report.erased_calls:
            cancel_jobs_of(tx.session, report.erased_calls)
    log.info(
        "replayed %d erasure ledger entries: %d call(s) erased, %d blob(s) deleted",
        report.entries,
        len(report.erased_calls),
        len(report.deleted_blobs),
    )
    return report
