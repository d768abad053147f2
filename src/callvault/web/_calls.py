"""Pages about calls: sign-in, the calls list, one call (player, transcript, insights,
corrections), search, contacts, upload and in-browser recording."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from callvault.api import (
    CSRF_HEADER,
    SESSION_COOKIE,
    ReceivedUpload,
    client_address,
    context_of,
    receive_upload,
    secure_cookies,
)
from callvault.api.routers.calls import actor_of, readable_call, store_upload
from callvault.capture import CHANNEL_LAYOUTS, FileImportOptions
from callvault.errors import (
    AccountLocked,
    CallvaultError,
    InputError,
    NotAuthorized,
    NotFound,
    Overloaded,
    TooManyAttempts,
)
from callvault.policy import NOTICE_LANGUAGES, render_notice
from callvault.services import (
    CONSENT_METHODS,
    CallFilter,
    Context,
    accounts,
    agent_team,
    call_scope,
    callinfo,
    contact_timeline,
    list_consents,
    reach_agents,
    read_insights,
    search_calls,
    semantic_search_calls,
    upload_agent,
)
from callvault.services.access import (
    CALLS_AUDIO,
    CALLS_CORRECT,
    CALLS_INSIGHTS,
    CALLS_LIST,
    CALLS_UPLOAD,
    CONSENT_READ,
    SEARCH,
    CallScope,
    Principal,
    can,
    require,
)
from callvault.services.contacts import list_contacts
from callvault.services.insight_corrections import correct_insight
from callvault.web._core import (
    CSRF_COOKIE,
    LOGIN_CSRF_COOKIE,
    PageRoute,
    check_csrf_token,
    checked_form,
    form_text,
    new_login_token,
    render,
    signed_in,
)
from callvault.web._scorecards import scorecard_panel

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 25
DIRECTIONS = ("inbound", "outbound", "internal")
CONSENT_STATES = ("not-needed", "given", "quarantined")
SENTIMENT_LABELS = ("improving", "worsening", "steady", "positive", "negative", "neutral")


def _safe_next(value: str | None) -> str:
    # Only a local path: never an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# -- sign-in ---------------------------------------------------------------------------


def _wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{-(-seconds // 60)} minutes"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    token = new_login_token()
    response = render(
        request, "login.html", {"login_csrf": token, "next": _safe_next(next)}, title="Sign in"
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    token = form.get("csrf_token")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(token, str) or not expected or token != expected:
        raise NotAuthorized("the sign-in form expired; reload the page and sign in again")
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    target = _safe_next(str(form.get("next") or "/"))
    context = context_of(request)
    refusal: tuple[int, str] | None = None
    retry_after: int | None = None
    try:
        # On a worker thread: a password hash must not stop the event loop that serves
        # every other page (issue 17).
        user = await run_in_threadpool(
            accounts.authenticate, context, username, password, address=client_address(request)
        )
    except (TooManyAttempts, Overloaded) as exc:
        retry_after = exc.retry_after
        refusal = (
            (429, f"Too many failed sign-ins. Try again in {_wait_text(retry_after)}.")
            if isinstance(exc, TooManyAttempts)
            else (503, "The server is checking too many sign-ins at once. Try again in a moment.")
        )
    except AccountLocked:
        refusal = (
            403,
            "This account is locked after too many failed sign-ins. "
            "Ask an administrator to unlock it.",
        )
    except NotAuthorized:
        refusal = (401, "Wrong user name or password.")
    if refusal is not None:
        fresh = new_login_token()
        response = render(
            request,
            "login.html",
            {"login_csrf": fresh, "next": target, "error": refusal[1], "username": username},
            status_code=refusal[0],
            title="Sign in",
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
        )
        return response
    secret, csrf, expires = await run_in_threadpool(accounts.create_session, context, user)
    response = RedirectResponse(target, status_code=303)
    secure = secure_cookies(request)
    for name, value in ((SESSION_COOKIE, secret), (CSRF_COOKIE, csrf)):
        response.set_cookie(
            name, value, httponly=True, samesite="lax", secure=secure, expires=expires, path="/"
        )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    signed = signed_in(request)
    await checked_form(request, signed)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts.end_session(context_of(request), secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- the calls list --------------------------------------------------------------------


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def insight_columns(
    ctx: Context, who: Principal, call_id: str, agent: str | None
) -> dict[str, Any]:
    """Tracker hits and the customer's sentiment label of a call, when the role may read
    insights and the call has them (none for a restricted or quarantined call)."""
    scope = CallScope(call_id, agent, agent_team(ctx, agent))
    if not can(who, CALLS_INSIGHTS, scope):
        return {"trackers": None, "sentiment": None}
    try:
        raw = read_insights(ctx, call_id, actor=actor_of(who))
    except CallvaultError:
        return {"trackers": None, "sentiment": None}
    if raw is None:
        return {"trackers": None, "sentiment": None}
    insights = json.loads(raw).get("insights") or {}
    counts = (insights.get("trackers") or {}).get("counts") or {}
    customer = (insights.get("sentiment") or {}).get("customer") or {}
    return {"trackers": dict(counts), "sentiment": customer.get("label")}


@router.get("/")
def calls_page(
    request: Request,
    page: int = 1,
    since: str | None = None,
    until: str | None = None,
    agent: str | None = None,
    direction: str | None = None,
    language: str | None = None,
    consent_state: str | None = None,
    tracker: str | None = None,
    sentiment: str | None = None,
) -> Response:
    signed = signed_in(request)
    who = signed.who
    require(who, CALLS_LIST)
    ctx = context_of(request)
    agents = reach_agents(ctx, who, agent or None)
    where = CallFilter.of(
        agents=agents,
        direction=_choice(direction, DIRECTIONS),
        language=(language or None) and language[:16],
        consent_state=_choice(consent_state, CONSENT_STATES),
        since=_day(since),
        until=_day(until, end=True),
    )
    page = max(1, min(page, 10_000))
    tracker = (tracker or "").strip() or None
    sentiment = _choice(sentiment, SENTIMENT_LABELS)
    if tracker or sentiment:
        # Filters on the insights: read the newest 500 calls' insights, then page.
        candidates = callinfo.list_calls(ctx, where, limit=500, actor=actor_of(who))
        rows = []
        for call in candidates:
            columns = insight_columns(ctx, who, call.id, call.agent)
            if tracker and not (columns["trackers"] or {}).get(tracker):
                continue
            if sentiment and columns["sentiment"] != sentiment:
                continue
            rows.append((call, columns))
        total = len(rows)
        rows = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    else:
        total = callinfo.count_calls(ctx, where)
        calls = callinfo.list_calls(
            ctx, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, actor=actor_of(who)
        )
        rows = [(c, insight_columns(ctx, who, c.id, c.agent)) for c in calls]
    query = {
        k: v
        for k, v in {
            "since": since,
            "until": until,
            "agent": agent,
            "direction": direction,
            "language": language,
            "consent_state": consent_state,
            "tracker": tracker,
            "sentiment": sentiment,
        }.items()
        if v
    }
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(
        request,
        "calls.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "filters": query,
            "prev_url": "/?" + urlencode({**query, "page": page - 1}) if page > 1 else None,
            "next_url": "/?" + urlencode({**query, "page": page + 1}) if page < pages else None,
            "directions": DIRECTIONS,
            "consent_states": CONSENT_STATES,
            "sentiments": SENTIMENT_LABELS,
            "can_search": can(who, SEARCH),
        },
        signed=signed,
        title="Calls",
    )


# -- one call --------------------------------------------------------------------------

_W, _H = 600, 120  # chart viewBox


def _x(t: float, duration: float) -> float:
    return round(10 + (_W - 20) * (max(0.0, t) / duration if duration > 0 else 0.0), 1)


def call_view(document: dict[str, Any]) -> dict[str, Any]:
    """What the call page draws: speaker lanes, words and the charts' coordinates."""
    transcript = document.get("transcript") or {}
    insights = document.get("insights") or {}
    utterances = transcript.get("utterances") or []
    duration = float((document.get("recording") or {}).get("duration_s") or 0.0)
    speakers: list[str] = []
    for u in utterances:
        if u["speaker"] not in speakers:
            speakers.append(u["speaker"])
    lanes = {s: i % 4 for i, s in enumerate(speakers)}
    starts = {i: float(u["start"]) for i, u in enumerate(utterances)}
    # Sentiment per utterance, one polyline per speaker (score -1..1 upwards).
    sentiment = insights.get("sentiment") or {}
    lines = []
    for speaker in speakers:
        points = []
        for item in sentiment.get("items") or []:
            index = item.get("utterance")
            if index in starts and utterances[index]["speaker"] == speaker:
                y = round(_H / 2 - float(item.get("score", 0.0)) * (_H / 2 - 10), 1)
                points.append((_x(starts[index], duration), y, item))
        lines.append({"speaker": speaker, "lane": lanes[speaker], "points": points})
    metrics = insights.get("metrics") or {}
    talk = [
        {
            "speaker": s.get("speaker"),
            "talk_time": float(s.get("talk_time") or 0.0),
            "share": float(s.get("talk_share") or 0.0),
            "lane": lanes.get(s.get("speaker"), 0),
            "metrics": s,
        }
        for s in metrics.get("speakers") or []
    ]
    longest = max((t["talk_time"] for t in talk), default=0.0) or 1.0
    for t in talk:
        t["width"] = round(260 * t["talk_time"] / longest, 1)
    trackers = insights.get("trackers") or {}
    hits = [
        {**h, "x": _x(float(h.get("time") or 0.0), duration)}
        for h in trackers.get("hits") or []
        if h.get("time") is not None
    ]
    redactions = document.get("redactions") or {}
    audio = redactions.get("audio") or {}
    return {
        "utterances": utterances,
        "speakers": speakers,
        "lanes": lanes,
        "duration": duration,
        "sentiment_lines": lines,
        "talk": talk,
        "tracker_hits": hits,
        "trackers": trackers,
        "metrics": metrics,
        "summary": insights.get("summary") or {},
        "actions": insights.get("actions") or {},
        "keywords": insights.get("keywords") or {},
        "customer_sentiment": sentiment.get("customer"),
        "sentiment_items": sentiment.get("items") or [],
        "redaction_count": len(redactions.get("transcript") or []) + len(audio.get("spans") or []),
        "chart_w": _W,
        "chart_h": _H,
    }


@router.get("/calls/{call_id}")
def call_page(request: Request, call_id: str) -> Response:
    signed = signed_in(request)
    who = signed.who
    ctx = context_of(request)
    document, scope = readable_call(ctx, who, call_id, None)
    consents = (
        [c.to_json() for c in list_consents(ctx, call_id=call_id, actor=actor_of(who))]
        if can(who, CONSENT_READ)
        else None
    )
    return render(
        request,
        "call.html",
        {
            "call": document,
            "view": call_view(document),
            "consents": consents,
            "can_audio": can(who, CALLS_AUDIO, scope),
            "can_correct": can(who, CALLS_CORRECT, scope),
            "scorecard": scorecard_panel(ctx, who, call_id, scope),
        },
        signed=signed,
        title=f"Call {call_id[:8]}",
    )


@router.post("/calls/{call_id}/corrections")
async def correct(request: Request, call_id: str) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    ctx = context_of(request)
    require(signed.who, CALLS_CORRECT, call_scope(ctx, call_id))
    try:
        index = int(form_text(form, "index", 8))
    except ValueError:
        raise InputError("the correction names no item") from None
    reason = form_text(form, "reason", 256)
    if not reason:
        raise InputError("give a reason for the correction")
    correct_insight(
        ctx,
        call_id,
        form_text(form, "section", 32),
        index,
        form_text(form, "field", 32),
        form_text(form, "value", 500),
        reason=reason,
        actor=actor_of(signed.who),
    )
    return RedirectResponse(f"/calls/{call_id}#insights", status_code=303)


# -- search ----------------------------------------------------------------------------


@router.get("/search")
def search_page(
    request: Request, q: str | None = None, semantic: str | None = None, page: int = 1
) -> Response:
    signed = signed_in(request)
    who = signed.who
    require(who, SEARCH)
    ctx = context_of(request)
    hits: list[dict[str, Any]] = []
    query = (q or "").strip()[:500]
    page = max(1, min(page, 1000))
    more = False
    if query:
        filters: dict[str, Any] = {"agents": reach_agents(ctx, who), "actor": actor_of(who)}
        if semantic:
            found: list[Any] = semantic_search_calls(ctx, query, limit=20, **filters)
        else:
            result = search_calls(ctx, query, limit=21, offset=(page - 1) * 20, **filters)
            found = list(result.hits)
            more = len(found) > 20
            found = found[:20]
        hits = [
            {
                "call_id": h.call_id,
                "speaker": h.speaker,
                "start": h.start,
                "snippet": h.snippet,
            }
            for h in found
        ]
    base = {"q": query, **({"semantic": "on"} if semantic else {})}
    return render(
        request,
        "search.html",
        {
            "q": query,
            "semantic": bool(semantic),
            "hits": hits,
            "searched": bool(query),
            "next_url": "/search?" + urlencode({**base, "page": page + 1}) if more else None,
            "prev_url": "/search?" + urlencode({**base, "page": page - 1}) if page > 1 else None,
        },
        signed=signed,
        title="Search",
    )


# -- contacts --------------------------------------------------------------------------


def _contacts_context(request: Request, who: Principal) -> Context:
    return context_of(request).acting_as(who)


@router.get("/contacts")
def contacts_page(request: Request, q: str | None = None) -> Response:
    signed = signed_in(request)
    require(signed.who, CALLS_LIST)
    contacts = list_contacts(
        _contacts_context(request, signed.who), query=(q or "").strip()[:128] or None
    )
    return render(
        request,
        "contacts.html",
        {"contacts": [c.to_json() for c in contacts], "q": q or ""},
        signed=signed,
        title="Contacts",
    )


@router.get("/contacts/{contact_id}")
def contact_page(request: Request, contact_id: str) -> Response:
    signed = signed_in(request)
    who = signed.who
    require(who, CALLS_LIST)
    timeline = contact_timeline(_contacts_context(request, who), contact_id, purpose=None)
    return render(request, "contact.html", timeline, signed=signed, title="Contact")


# -- upload and recording --------------------------------------------------------------


@router.get("/upload")
def upload_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, CALLS_UPLOAD)
    return render(
        request,
        "upload.html",
        {
            "directions": DIRECTIONS,
            "consent_methods": CONSENT_METHODS,
            "channel_layouts": CHANNEL_LAYOUTS,
        },
        signed=signed,
        title="Upload a call",
    )


@router.post("/upload")
async def upload(request: Request) -> Response:
    """The upload form: the session and the role are checked on the headers and the CSRF
    token before the file's first byte, which goes into an encrypted spool as it
    arrives (issue 17); see `api.routers.calls.upload_call`."""
    signed = signed_in(request)
    who = signed.who
    require(who, CALLS_UPLOAD)
    ctx = context_of(request)
    header_token = request.headers.get(CSRF_HEADER)

    def check_csrf(fields: dict[str, str]) -> None:
        check_csrf_token(signed, header_token or fields.get("csrf_token"))

    def before_file(fields: dict[str, str]) -> None:
        check_csrf(fields)
        if "agent" in fields:
            upload_agent(ctx, who, form_text(fields, "agent", 64) or None)

    received = await receive_upload(request, ctx, before_file=before_file)
    try:
        check_csrf(received.fields)
        call_id = await _ingest_form(ctx, who, received)
    finally:
        received.close()
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


async def _ingest_form(ctx: Context, who: Principal, received: ReceivedUpload) -> str:
    fields = received.fields
    agent = upload_agent(ctx, who, form_text(fields, "agent", 64) or None)
    if received.spool is None:
        raise InputError("choose a recording to upload")
    if received.spool.size == 0:
        raise InputError("the chosen file is empty")
    options = FileImportOptions(
        caller=form_text(fields, "caller", 32) or None,
        callee=form_text(fields, "callee", 32) or None,
        direction=_choice(form_text(fields, "direction", 16), DIRECTIONS),
        agent=agent,
        started_at=form_text(fields, "started_at", 40) or None,
        language=form_text(fields, "language", 16) or None,
        # As typed, not _choice(): a layout the import refuses must say so, not vanish.
        channels=form_text(fields, "channels", 32) or None,
    )
    consent = form_text(fields, "consent", 32) or None
    stored = await store_upload(ctx, who, received.spool, received.filename, options, consent)
    return stored.call_id


@router.get("/record")
def record_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, CALLS_UPLOAD)
    config = context_of(request).config
    organisation = config.organisation or "this organisation"
    notices = []
    for language in NOTICE_LANGUAGES:
        try:
            notice = render_notice(language, organisation=organisation)
        except CallvaultError:
            continue
        notices.append(notice)
    if not notices:
        raise NotFound("no recording notice is available")
    return render(
        request,
        "record.html",
        {"notices": notices},
        signed=signed,
        title="Record a call",
    )


__all__ = ["call_view", "router"]
