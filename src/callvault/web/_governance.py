"""Compliance pages (consent, data-subject rights, retention, legal holds, spoken
refusals found by processing, the audit log) and administration (users, trackers,
recording rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from callvault.api import context_of
from callvault.api.routers.calls import actor_of
from callvault.api.routers.governance import announce_erased, export_download
from callvault.config import ROLES
from callvault.errors import InputError
from callvault.services import (
    accounts,
    apply_refusal,
    audit,
    call_scope,
    erase_subject,
    export_subject,
    find_subject,
    governance,
    list_consents,
    list_refusals,
    reverse_refusal,
    run_retention,
)
from callvault.services.access import (
    AUDIT_READ,
    CONSENT_READ,
    HOLDS_READ,
    HOLDS_WRITE,
    POLICY_READ,
    REFUSALS_READ,
    REFUSALS_WRITE,
    RETENTION_READ,
    RIGHTS_READ,
    RIGHTS_WRITE,
    USERS_READ,
    USERS_WRITE,
    Principal,
    can,
    require,
)
from callvault.web._core import PageRoute, checked_form, form_text, render, signed_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AUDIT_PAGE = 50
_MAX_FILE_SHOWN = 64 * 1024


def _compliance_links(who: Principal) -> list[tuple[str, str]]:
    links = []
    if can(who, CONSENT_READ):
        links.append(("/compliance/consents", "Consent records"))
    if can(who, RIGHTS_READ):
        links.append(("/compliance/rights", "Data-subject rights"))
    if can(who, RETENTION_READ):
        links.append(("/compliance/retention", "Retention"))
    if can(who, HOLDS_READ):
        links.append(("/compliance/holds", "Legal holds"))
    if can(who, REFUSALS_READ):
        links.append(("/compliance/refusals", "Spoken refusals"))
    if can(who, AUDIT_READ):
        links.append(("/compliance/audit", "Audit log"))
    return links


@router.get("/compliance")
def compliance_index(request: Request) -> Response:
    signed = signed_in(request)
    links = _compliance_links(signed.who)
    if not links:
        require(signed.who, AUDIT_READ)  # 403
    return render(request, "compliance.html", {"links": links}, signed=signed, title="Compliance")


@router.get("/compliance/consents")
def consents_page(request: Request, call_id: str | None = None) -> Response:
    signed = signed_in(request)
    require(signed.who, CONSENT_READ)
    ctx = context_of(request)
    records = None
    call_id = (call_id or "").strip()[:64] or None
    if call_id:
        call_scope(ctx, call_id)  # NotFound for a call that does not exist
        records = [
            r.to_json() for r in list_consents(ctx, call_id=call_id, actor=actor_of(signed.who))
        ]
    return render(
        request,
        "consents.html",
        {"call_id": call_id or "", "records": records},
        signed=signed,
        title="Consent records",
    )


@router.get("/compliance/rights")
def rights_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, RIGHTS_READ)
    return render(
        request,
        "rights.html",
        {"can_erase": can(signed.who, RIGHTS_WRITE)},
        signed=signed,
        title="Data-subject rights",
    )


@router.post("/compliance/rights")
async def rights_action(request: Request) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    who = signed.who
    require(who, RIGHTS_READ)
    ctx = context_of(request)
    action = form_text(form, "action", 16)
    subject = form_text(form, "subject", 256)
    if not subject:
        raise InputError("name the data subject: a phone number (+E.164) or a name")
    context: dict[str, Any] = {"subject": subject, "can_erase": can(who, RIGHTS_WRITE)}
    if action == "find":
        context["found"] = find_subject(ctx, subject, actor=actor_of(who)).to_json()
    elif action == "export":
        return await run_in_threadpool(
            export_download,
            lambda out: export_subject(ctx, subject, out, actor=actor_of(who)).out,
        )
    elif action == "erase":
        require(who, RIGHTS_WRITE)
        reason = form_text(form, "reason", 500)
        if not reason:
            raise InputError("give the reason for the erasure (it is written to the audit log)")
        context["reason"] = reason
        if form_text(form, "confirm", 8) != "yes":
            # The confirmation step: what would be erased, and a second form.
            context["confirming"] = find_subject(ctx, subject, actor=actor_of(who)).to_json()
        else:
            erased = await run_in_threadpool(
                lambda: erase_subject(ctx, subject, reason=reason, actor=actor_of(who))
            )
            announce_erased(request, list(erased.erased))
            context["erased"] = erased.to_json()
    else:
        raise InputError("choose find, export or erase")
    return render(request, "rights.html", context, signed=signed, title="Data-subject rights")


@router.get("/compliance/retention")
def retention_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, RETENTION_READ)
    report = run_retention(context_of(request), dry_run=True, actor=actor_of(signed.who)).to_json()
    return render(request, "retention.html", {"report": report}, signed=signed, title="Retention")


@router.get("/compliance/holds")
def holds_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, HOLDS_READ)
    holds = governance.list_holds(
        context_of(request), active_only=False, actor=actor_of(signed.who)
    )
    return render(
        request,
        "holds.html",
        {"holds": [h.to_json() for h in holds], "can_write": can(signed.who, HOLDS_WRITE)},
        signed=signed,
        title="Legal holds",
    )


@router.post("/compliance/holds")
async def add_hold(request: Request) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    require(signed.who, HOLDS_WRITE)
    call_id = form_text(form, "call_id", 64) or None
    subject = form_text(form, "subject", 256) or None
    governance.add_hold(
        context_of(request),
        call_id,
        subject,
        reason=form_text(form, "reason", 500),
        actor=actor_of(signed.who),
    )
    return RedirectResponse("/compliance/holds", status_code=303)


@router.post("/compliance/holds/{hold_id}/release")
async def release_hold(request: Request, hold_id: str) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    require(signed.who, HOLDS_WRITE)
    governance.release_hold(
        context_of(request),
        hold_id,
        reason=form_text(form, "reason", 500),
        actor=actor_of(signed.who),
    )
    return RedirectResponse("/compliance/holds", status_code=303)


@router.get("/compliance/refusals")
def refusals_page(request: Request) -> Response:
    """Spoken refusals found by processing: decision, words, confidence; reverse or
    apply with a reason (issue 20)."""
    signed = signed_in(request)
    require(signed.who, REFUSALS_READ)
    views = list_refusals(context_of(request).acting_as(signed.who))
    return render(
        request,
        "refusals.html",
        {"refusals": [v.to_json() for v in views], "can_write": can(signed.who, REFUSALS_WRITE)},
        signed=signed,
        title="Spoken refusals",
    )


@router.post("/compliance/refusals/{detection_id}/{action}")
async def review_refusal(request: Request, detection_id: str, action: str) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    require(signed.who, REFUSALS_WRITE)
    if action not in ("reverse", "apply"):
        raise InputError(f"unknown action {action!r} on a spoken refusal: reverse or apply")
    review = reverse_refusal if action == "reverse" else apply_refusal
    ctx = context_of(request).acting_as(signed.who)
    reason = form_text(form, "reason", 500)
    await run_in_threadpool(review, ctx, detection_id, reason=reason)
    return RedirectResponse("/compliance/refusals", status_code=303)


@router.get("/compliance/audit")
def audit_page(request: Request, page: int = 1) -> Response:
    signed = signed_in(request)
    require(signed.who, AUDIT_READ)
    ctx = context_of(request)
    page = max(1, page)
    newest, total = audit.audit_page(ctx, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
    pages = max(1, (total + AUDIT_PAGE - 1) // AUDIT_PAGE)
    if page > pages:  # past the end: the last page
        page = pages
        newest, total = audit.audit_page(ctx, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
    report = audit.verify_audit(ctx)
    return render(
        request,
        "audit.html",
        {
            "entries": [e.to_dict() for e in newest],
            "total": total,
            "page": page,
            "pages": pages,
            "report": report,
        },
        signed=signed,
        title="Audit log",
    )


# -- administration --------------------------------------------------------------------


def _file_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:_MAX_FILE_SHOWN]
    except OSError as exc:
        return f"(cannot read the file: {exc.strerror})"


@router.get("/admin")
def admin_page(request: Request) -> Response:
    signed = signed_in(request)
    who = signed.who
    require(who, USERS_READ)
    require(who, POLICY_READ)
    context = context_of(request).acting_as(who)
    config = context.config
    return render(
        request,
        "admin.html",
        {
            "users": [u.to_json() for u in accounts.list_users(context)],
            "roles": ROLES,
            "trackers_path": config.trackers,
            "trackers_text": _file_text(config.trackers),
            "rules_path": config.policy_rules,
            "rules_text": _file_text(config.policy_rules),
        },
        signed=signed,
        title="Administration",
    )


@router.post("/admin/users")
async def admin_add_user(request: Request) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    require(signed.who, USERS_WRITE)
    password = form.get("password")
    accounts.add_user(
        context_of(request).acting_as(signed.who),
        form_text(form, "username", 64),
        password[:1024] if isinstance(password, str) else "",  # the vault checks its length
        form_text(form, "role", 32),
        team=form_text(form, "team", 64) or None,
        display_name=form_text(form, "display_name", 128) or None,
    )
    return RedirectResponse("/admin#users", status_code=303)


@router.post("/admin/users/{username}")
async def admin_update_user(request: Request, username: str) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    require(signed.who, USERS_WRITE)
    context = context_of(request).acting_as(signed.who)
    user = accounts.get_user(context, username)
    action = form_text(form, "action", 16)
    if action == "disable":
        if user.username == signed.who.username:
            raise InputError("you cannot disable yourself")
        accounts.disable_user(context, user.username)
    elif action == "unlock":
        accounts.unlock_user(context, user.username)
    else:
        role = form_text(form, "role", 32) or user.role
        team = form_text(form, "team", 64) or None
        if (role, team) != (user.role, user.team):
            accounts.set_role(context, user.username, role, team)
    return RedirectResponse("/admin#users", status_code=303)


__all__ = ["router"]
