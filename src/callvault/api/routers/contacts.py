"""Contacts and their call history: a timeline holds only the calls the caller may
read, with summaries and action items where their role reads insights."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from callvault.api._auth import principal, vault_of
from callvault.api.routers.calls import actor_of
from callvault.services import contact_timeline
from callvault.services.access import CALLS_LIST, Principal, require

router = APIRouter(prefix="/contacts", tags=["contacts"])

Who = Annotated[Principal, Depends(principal)]


@router.get("")
def list_contacts(
    request: Request,
    who: Who,
    q: Annotated[str | None, Query(max_length=128)] = None,
    account: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Contacts by name; `q`: those whose name, phone, e-mail or CRM id contains it
    (any case); `account`: those of one account (exact). Audited, counts only."""
    require(who, CALLS_LIST)
    found = vault_of(request).list_contacts(
        query=(q or "").strip() or None,
        account=(account or "").strip() or None,
        actor=actor_of(who),
    )
    return {"contacts": [c.to_json() for c in found]}


@router.get("/{contact_id}")
def contact(
    contact_id: str,
    request: Request,
    who: Who,
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The contact and their calls, newest first (only those the caller may read)."""
    require(who, CALLS_LIST)
    return contact_timeline(
        vault_of(request), contact_id, purpose=purpose, who=who, actor=actor_of(who)
    )


__all__ = ["router"]
