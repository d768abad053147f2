"""The tamper-evident audit log as the edges read it: entries and the chain's check."""

from __future__ import annotations

from callvault.services._context import Context
from callvault.vault import AuditEntry, AuditReport

__all__ = ["audit_entries", "audit_page", "verify_audit"]


def audit_entries(
    ctx: Context,
    *,
    object_id: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries, oldest first; `limit`: only the last N."""
    return ctx.vault.audit_entries(object_id=object_id, action=action, limit=limit)


def audit_page(
    ctx: Context,
    *,
    limit: int,
    offset: int = 0,
    object_id: str | None = None,
    action: str | None = None,
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and how many there are in all."""
    page, total = ctx.vault.audit_page(
        limit=limit, offset=offset, object_id=object_id, action=action
    )
    return list(page), total


def verify_audit(ctx: Context) -> AuditReport:
    """Check the hash chain and the signatures of the whole log."""
    return ctx.vault.verify_audit()
