"""An uploaded recording (the API's `POST /calls`, the web's upload form): where it is
received, whose call it may be, and how it is checked, gated, stored and queued."""

from __future__ import annotations

from callvault.capture import FileImportOptions, import_opened
from callvault.errors import InputError, NotAuthorized
from callvault.services._context import Context
from callvault.services.access import CALLS_UPLOAD, CallScope, Principal, can, require
from callvault.services.ingest import IngestedCall, ingest_captured
from callvault.services.reach import agent_team
from callvault.vault import EncryptedSpool

__all__ = ["EncryptedSpool", "ingest_upload", "new_spool", "upload_agent"]


def new_spool(ctx: Context) -> EncryptedSpool:
    """An encrypted spool in the data directory for a recording being received:
    plaintext never reaches the system temporary directory (issue 17)."""
    return ctx.vault.new_spool()


def upload_agent(ctx: Context, who: Principal, agent: str | None) -> str | None:
    """The agent of a call `who` uploads: the one named, else a rep or manager
    themself. NotAuthorized when that agent's calls are out of `who`'s reach."""
    agent = agent or (who.username if who.role in ("rep", "manager") else None)
    if not can(who, CALLS_UPLOAD, CallScope("", agent, agent_team(ctx, agent))):
        require(who, CALLS_UPLOAD)  # 403 for a role that never uploads
        raise NotAuthorized(f"{who.role} {who.username} may not upload calls of agent {agent}")
    return agent


def ingest_upload(
    ctx: Context,
    spool: EncryptedSpool,
    name: str,
    options: FileImportOptions,
    consent: str | None,
    *,
    actor: str | None = None,
) -> IngestedCall:
    """Check, gate, store and queue an uploaded recording, audited as `actor`. The audio
    is read from its encrypted spool chunk by chunk (probing, then encrypting it into
    the storage), never whole. Blocking: the API runs it off the event loop."""
    if spool.size == 0:
        raise InputError(f"{name}: the file is empty; give a recording with audio in it")
    captured = import_opened(
        spool.open, spool.size, name, options, max_seconds=ctx.config.max_duration
    )
    (stored,) = ingest_captured(ctx, [captured], consent=consent, actor=actor)
    return stored
