"""Contacts and their call history: a timeline holds only the calls the caller may
read, with summaries and action items where their role reads insights."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import context_of, principal
from callvault.api.schemas import ContactList, ContactTimeline, ImportedContactsOut
from callvault.errors import InputError
from callvault.services import Context
from callvault.services import contacts as contact_services
from callvault.services.access import CALLS_LIST, CONTACTS_WRITE, Principal, require

router = APIRouter(prefix="/contacts", tags=["contacts"])

Who = Annotated[Principal, Depends(principal)]


def _context(request: Request, who: Principal) -> Context:
    return context_of(request).acting_as(who)


@router.get("", response_model=ContactList)
def list_contacts(
    request: Request,
    who: Who,
    q: Annotated[str | None, Query(max_length=128)] = None,
    account: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Contacts by name; `q`: those whose name, phone, e-mail or CRM id contains it
    (any case); `account`: those of one account (exact). Audited, counts only."""
    require(who, CALLS_LIST)
    found = contact_services.list_contacts(
        _context(request, who),
        query=(q or "").strip() or None,
        account=(account or "").strip() or None,
    )
    return {"contacts": [c.to_json() for c in found]}


# A contacts file bigger than this is refused (about 100 000 rows).
MAX_CSV_BYTES = 16 << 20


@router.post("/import", response_model=ImportedContactsOut)
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
        contact_services.import_contacts_bytes, _context(request, who), data, name, region=region
    )
    return result.to_json()


@router.get("/{contact_id}", response_model=ContactTimeline)
def contact(
    contact_id: str,
    request: Request,
    who: Who,
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The contact and their calls, newest first (only those the caller may read)."""
    require(who, CALLS_LIST)
    return contact_services.contact_timeline(_context(request, who), contact_id, purpose=purpose)


__all__ = ["router"]
