"""What someone holding the vault's signing key can do to the audit chain: the attacks
anchored checkpoints exist for (issue 21). Shared by the vault's and the CLI's tests."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callvault.vault import Vault
from callvault.vault._audit import _head_message, row_hash
from callvault.vault._models import AuditHeadRow, AuditRow


def add_entries(vault: Vault, count: int, tag: str = "x") -> None:
    with vault.transaction() as tx:
        for n in range(count):
            tx.audit("test.event", "test", f"{tag}{n}", details={"n": n})


def rewrite_history(vault: Vault, seq: int, details: str = '{"forged":true}') -> None:
    """Edit entry `seq`, recompute every later hash and re-sign the head with the vault's
    own key: a rewrite by someone who holds the signing key."""
    with Session(vault.engine) as session, session.begin():
        rows = list(
            session.scalars(select(AuditRow).where(AuditRow.seq >= seq).order_by(AuditRow.seq))
        )
        rows[0].details = details
        prev = rows[0].prev_hash
        for row in rows:
            row.prev_hash = prev
            row.hash = row_hash(row)
            prev = row.hash
        head = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one()
        head.hash = prev
        head.signature = vault.signer.sign(_head_message(head.seq, prev))


def truncate_history(vault: Vault, keep: int) -> None:
    """Remove every entry after `keep` and sign a head at `keep`, with the vault's key."""
    with Session(vault.engine) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq > keep))
        last = session.scalars(select(AuditRow).where(AuditRow.seq == keep)).one()
        head = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one()
        head.seq, head.hash = keep, last.hash
        head.signature = vault.signer.sign(_head_message(keep, last.hash))
