"""Governance: consent records, data-subject rights (find, export, erase, restrict),
retention, legal holds, the audit log, and erasing one call.

Every endpoint checks one action of `services.access` (compliance and admin; the audit
log also the auditor), then calls one use case. Erasures need `confirm` and a reason.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from callvault.api._auth import context_of, principal
from callvault.api.routers.calls import actor_of
from callvault.api.schemas import (
    AuditCheck,
    AuditPage,
    ConsentAddedOut,
    ConsentIn,
    ConsentList,
    EraseSubjectIn,
    ErasureCertificateOut,
    HoldIn,
    HoldList,
    HoldOut,
    LiftIn,
    ReleaseIn,
    RestrictIn,
    RestrictionList,
    RestrictionOut,
    RetentionIn,
    RetentionInfoOut,
    RetentionReportOut,
    SubjectErasureOut,
    SubjectIn,
    SubjectSearchOut,
)
from callvault.errors import InputError
from callvault.services import (
    add_consent,
    audit_page,
    call_scope,
    erase_call,
    erase_subject,
    export_subject,
    find_subject,
    governance,
    list_consents,
    require_call,
    run_retention,
    set_retention,
    verify_audit,
)
from callvault.services.access import (
    AUDIT_READ,
    CALLS_ERASE,
    CONSENT_READ,
    CONSENT_WRITE,
    HOLDS_READ,
    HOLDS_WRITE,
    RETENTION_READ,
    RETENTION_WRITE,
    RIGHTS_READ,
    RIGHTS_WRITE,
    Principal,
    require,
)
from callvault.services.jobs import announce_erased as queue_erased_events
from callvault.services.rectify import lift_restriction, list_restrictions, restrict_subject

router = APIRouter(tags=["governance"])

Who = Annotated[Principal, Depends(principal)]
Purpose = Annotated[str | None, Query(max_length=256)]


def announce_erased(request: Request, call_ids: list[str]) -> None:
    """Tell the webhook subscribers (ids only): one queued delivery per call and URL,
    made by the workers and retried until the subscriber takes it."""
    queue_erased_events(context_of(request), call_ids)


# -- erasing one call --------------------------------------------------------------------


@router.delete("/calls/{call_id}", tags=["calls"], response_model=ErasureCertificateOut)
def erase_one_call(
    call_id: str,
    request: Request,
    who: Who,
    reason: Annotated[str, Query(min_length=1, max_length=500)],
    confirm: bool = False,
) -> dict[str, Any]:
    """Erase a call by crypto-shredding (search rows first); refused under a legal hold.
    Needs `confirm=true` and a reason (written to the audit log). Returns the erasure
    certificate."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_ERASE, call_id)
    if not confirm:
        raise InputError(f"erasing call {call_id} cannot be undone; send confirm=true")
    certificate = erase_call(ctx, call_id, reason=reason, actor=actor_of(who))
    announce_erased(request, [call_id])
    return certificate.to_json()


# -- consent -----------------------------------------------------------------------------


@router.get("/calls/{call_id}/consents", tags=["consent"], response_model=ConsentList)
def call_consents(call_id: str, request: Request, who: Who) -> dict[str, Any]:
    """The consent records of one call, oldest first (audited)."""
    require(who, CONSENT_READ)
    ctx = context_of(request)
    call_scope(ctx, call_id)  # NotFound for a call that does not exist
    records = list_consents(ctx, call_id=call_id, actor=actor_of(who))
    return {"consents": [r.to_json() for r in records]}


@router.post("/consents", status_code=201, tags=["consent"], response_model=ConsentAddedOut)
def record_consent(body: ConsentIn, request: Request, who: Who) -> dict[str, Any]:
    """Record a consent, for one call or standing (no `call_id`); a quarantined call that
    every party has now consented to is released and queued for processing."""
    require(who, CONSENT_WRITE)
    added = add_consent(
        context_of(request).acting_as(who),
        body.participant,
        method=body.method,
        scopes=body.scopes,
        call_id=body.call_id,
        given_at=body.given_at,
        note=body.note,
    )
    return added.to_json()


# -- data-subject rights -----------------------------------------------------------------


@router.post("/rights/find", tags=["rights"], response_model=SubjectSearchOut)
def rights_find(body: SubjectIn, request: Request, who: Who) -> dict[str, Any]:
    """The calls of a data subject (a number or a name); audited with ids only."""
    require(who, RIGHTS_READ)
    found = find_subject(
        context_of(request), body.subject, purpose=body.purpose, actor=actor_of(who)
    )
    return found.to_json()


@router.post(
    "/rights/export",
    tags=["rights"],
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The export"}},
)
def rights_export(body: SubjectIn, request: Request, who: Who) -> FileResponse:
    """A zip of everything held about the subject (GDPR art. 15 and 20), as a download."""
    require(who, RIGHTS_READ)
    ctx = context_of(request)
    return export_download(
        lambda out: (
            export_subject(ctx, body.subject, out, purpose=body.purpose, actor=actor_of(who)).out
        )
    )


def export_download(write: Callable[[Path], Path]) -> FileResponse:
    """The zip `write` makes (given where), sent as a download and removed once sent.
    It is written outside the data directory, in a private temporary folder: an export
    is plaintext."""
    folder = Path(tempfile.mkdtemp(prefix="callvault-export-"))
    try:
        out = write(folder / "export.zip")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        out,
        media_type="application/zip",
        filename="subject-export.zip",
        headers={"Cache-Control": "private, no-store"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


# Exclude unset: `scope` and `partial` are written for a leg erasure only, and every
# other key is always given, so the bodies stay as they were.
@router.post(
    "/rights/erase",
    tags=["rights"],
    response_model=SubjectErasureOut,
    response_model_exclude_unset=True,
)
def rights_erase(body: EraseSubjectIn, request: Request, who: Who) -> dict[str, Any]:
    """Erase every call of a subject (or their leg of it, `scope` "leg"); refused as a
    whole when a call is held. Needs `confirm: true`."""
    require(who, RIGHTS_WRITE)
    if body.confirm is not True:
        raise InputError("erasing a subject's calls cannot be undone; send confirm: true")
    erased = erase_subject(
        context_of(request),
        body.subject,
        reason=body.reason,
        actor=actor_of(who),
        scope=body.scope,
    )
    announce_erased(request, list(erased.erased))
    return erased.to_json()


@router.post("/rights/restrict", status_code=201, tags=["rights"], response_model=RestrictionOut)
def rights_restrict(body: RestrictIn, request: Request, who: Who) -> dict[str, Any]:
    """Restrict processing of every call of a subject (GDPR art. 18)."""
    require(who, RIGHTS_WRITE)
    record = restrict_subject(
        context_of(request), body.subject, reason=body.reason, actor=actor_of(who)
    )
    return record.to_json()


@router.post("/rights/lift", tags=["rights"], response_model=RestrictionOut)
def rights_lift(body: LiftIn, request: Request, who: Who) -> dict[str, Any]:
    """Lift a restriction of processing."""
    require(who, RIGHTS_WRITE)
    record = lift_restriction(
        context_of(request), body.restriction_id, reason=body.reason, actor=actor_of(who)
    )
    return record.to_json()


@router.get("/rights/restrictions", tags=["rights"], response_model=RestrictionList)
def rights_restrictions(request: Request, who: Who, active_only: bool = True) -> dict[str, Any]:
    """Restrictions of processing (audited: subjects are personal data)."""
    require(who, RIGHTS_READ)
    records = list_restrictions(context_of(request), active_only=active_only, actor=actor_of(who))
    return {"restrictions": [r.to_json() for r in records]}


# -- retention ---------------------------------------------------------------------------


@router.get("/retention/due", tags=["retention"], response_model=RetentionReportOut)
def retention_due(request: Request, who: Who, now: datetime | None = None) -> dict[str, Any]:
    """What a retention run would erase at `now` (default: now; a dry run may look
    ahead), and what it would skip (held)."""
    require(who, RETENTION_READ)
    report = run_retention(context_of(request), now=now, dry_run=True, actor=actor_of(who))
    return report.to_json()


@router.post("/retention/run", tags=["retention"], response_model=RetentionReportOut)
def retention_run(request: Request, who: Who) -> dict[str, Any]:
    """Erase every expired call that is not held; returns each erasure's certificate."""
    require(who, RETENTION_WRITE)
    report = run_retention(context_of(request), actor=actor_of(who))
    announce_erased(request, report.erased_call_ids)
    return report.to_json()


@router.put("/calls/{call_id}/retention", tags=["retention"], response_model=RetentionInfoOut)
def set_call_retention(
    call_id: str, body: RetentionIn, request: Request, who: Who
) -> dict[str, Any]:
    """Set a call's retention class and the time after which it is erased (null: never)."""
    require(who, RETENTION_WRITE)
    info = set_retention(
        context_of(request), call_id, body.retention_class, body.retain_until, actor=actor_of(who)
    )
    return info.to_json()


# -- legal holds -------------------------------------------------------------------------


@router.get("/holds", tags=["holds"], response_model=HoldList)
def list_holds(request: Request, who: Who, active_only: bool = True) -> dict[str, Any]:
    """Legal holds, oldest first (audited)."""
    require(who, HOLDS_READ)
    holds = governance.list_holds(context_of(request), active_only=active_only, actor=actor_of(who))
    return {"holds": [h.to_json() for h in holds]}


@router.post("/holds", status_code=201, tags=["holds"], response_model=HoldOut)
def add_hold(body: HoldIn, request: Request, who: Who) -> dict[str, Any]:
    """Put a call, or every call of a subject, on legal hold (give exactly one)."""
    require(who, HOLDS_WRITE)
    hold = governance.add_hold(
        context_of(request), body.call_id, body.subject, reason=body.reason, actor=actor_of(who)
    )
    return hold.to_json()


@router.post("/holds/{hold_id}/release", tags=["holds"], response_model=HoldOut)
def release_hold(hold_id: str, body: ReleaseIn, request: Request, who: Who) -> dict[str, Any]:
    """Release a hold; what it held may be erased again."""
    require(who, HOLDS_WRITE)
    hold = governance.release_hold(
        context_of(request), hold_id, reason=body.reason, actor=actor_of(who)
    )
    return hold.to_json()


# -- audit -------------------------------------------------------------------------------


@router.get("/audit", tags=["audit"], response_model=AuditPage)
def audit_log(
    request: Request,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Audit entries, newest first, one page at a time."""
    require(who, AUDIT_READ)
    page, total = audit_page(
        context_of(request), limit=limit, offset=offset, object_id=object_id, action=action
    )
    return {
        "entries": [e.to_dict() for e in page],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/audit/verify", tags=["audit"], response_model=AuditCheck)
def audit_verify(request: Request, who: Who) -> dict[str, Any]:
    """Check the audit log's hash chain and signatures."""
    require(who, AUDIT_READ)
    report = verify_audit(context_of(request))
    return {
        "ok": report.ok,
        "entries": report.entries,
        "faults": [{"seq": f.seq, "kind": f.kind, "message": f.message} for f in report.faults],
    }


__all__ = ["announce_erased", "export_download", "router"]
