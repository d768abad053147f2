"""Contacts and their call history: a timeline holds only the calls the caller may
read, with summaries and action items where their role reads insights."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import principal, vault_of
from callvault.api.routers.calls import actor_of
from callvault.errors import InputError
from callvault.services import contact_timeline
from callvault.services.access import CALLS_LIST, CONTACTS_WRITE, Principal, require
from callvault.services.contacts import import_contacts_bytes

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


# A contacts file bigger than this is refused (about 100 000 rows).
MAX_CSV_BYTES = 16 << 20


@router.post("/import")
async def import_contacts(
    request: Request,
    who: Who,
    file: Annotated[UploadFile, File(description="CSV: name, phone, email, account, crm_id")],
    region: Annotated[str, Form(min_length=2, max_length=2)] = "US",
) -> dict[str, Any]:
    """Import contacts from a CSV file with a header row (admin), all or nothing; each
    contact is matched to the calls it took part in. Errors name the line and the field,
    never a value."""
    require(who, CONTACTS_WRITE)
    data = await file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InputError(f"the contacts file is larger than {MAX_CSV_BYTES >> 20} MiB")
    name = (file.filename or "contacts.csv")[:100]
    result = await run_in_threadpool(
        import_contacts_bytes,
        vault_of(request),
        data,
        name,
        region=region,
        actor=actor_of(who),
    )
    return result.to_json()


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
