"""What every page shares: who is signed in (the session cookie, checked on the server
for every request), the CSRF token of forms, rendering, and errors as HTML pages.

A browser session is the API's (`callvault_session`). The vault keeps only a hash of the
session's CSRF token, so the web app keeps the token itself in a second HttpOnly cookie
(`callvault_csrf`) and writes it into every form; a POST is accepted only when the form's
token matches the session (`services.accounts.check_csrf`): a cross-site form cannot know it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from callvault.api import SESSION_COOKIE, context_of, status_of
from callvault.errors import CallvaultError, NotAuthorized
from callvault.services import accounts
from callvault.services.access import (
    AUDIT_READ,
    CALLS_LIST,
    CALLS_UPLOAD,
    HOLDS_READ,
    LIVE_ACK,
    POLICY_READ,
    RIGHTS_READ,
    SEARCH,
    TEAM_READ,
    USERS_READ,
    Principal,
    can,
)
from callvault.services.accounts import SessionRecord

__all__ = [
    "CSRF_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "LoginRequired",
    "PageRoute",
    "Signed",
    "check_csrf_token",
    "checked_form",
    "form_text",
    "render",
    "signed_in",
    "templates",
]

CSRF_COOKIE = "callvault_csrf"
LOGIN_CSRF_COOKIE = "callvault_login_csrf"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _marked(snippet: str) -> Markup:
    """A search snippet with its «matches» as <mark>, everything else escaped."""
    text = str(escape(snippet))
    return Markup(text.replace("«", "<mark>").replace("»", "</mark>"))


def _seconds(value: Any) -> str:
    if value is None:
        return "–"
    total = float(value)
    return f"{int(total // 60)}:{total % 60:04.1f}"


templates.env.filters["marked"] = _marked
templates.env.filters["mmss"] = _seconds


class LoginRequired(Exception):
    """No valid session: the page redirects to /login."""


@dataclass(frozen=True)
class Signed:
    """The signed-in user of a page request."""

    who: Principal
    session: SessionRecord
    csrf: str
    display_name: str | None


def signed_in(request: Request) -> Signed:
    """The session's user, or LoginRequired."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired()
    try:
        user, session = accounts.resolve_session(context_of(request), secret)
    except NotAuthorized:
        raise LoginRequired() from None
    who = Principal(user.username, user.role, user.team, None)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    signed = Signed(who, session, csrf, user.display_name)
    request.state.principal = who
    return signed


async def checked_form(request: Request, signed: Signed) -> FormData:
    """The POSTed form, after its CSRF token was checked against the session."""
    form = await request.form()
    check_csrf_token(signed, form.get("csrf_token"))
    return form


def check_csrf_token(signed: Signed, token: object) -> None:
    """NotAuthorized unless `token` is the CSRF token of the signed-in session."""
    if not isinstance(token, str) or not token or not accounts.check_csrf(signed.session, token):
        raise NotAuthorized("the form's CSRF token is missing or wrong; reload the page")


def form_text(form: Mapping[str, object], name: str, limit: int) -> str:
    """A text field of a form (posted, or the fields of a streamed upload), stripped and
    cut to `limit` characters ("" when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def nav(who: Principal) -> list[tuple[str, str]]:
    """The navigation links the role may follow."""
    links: list[tuple[str, str]] = []
    if can(who, CALLS_LIST):
        links += [("/", "Calls"), ("/contacts", "Contacts")]
    if can(who, SEARCH):
        links.append(("/search", "Search"))
        links.append(("/ask", "Ask"))
    if can(who, LIVE_ACK):
        # The supervisors' page (managers, compliance, admin); a rep may open it too.
        links.append(("/live", "Live"))
    if can(who, CALLS_UPLOAD):
        links += [("/upload", "Upload"), ("/record", "Record")]
    if can(who, TEAM_READ):
        links.append(("/team", "Team"))
    if any(can(who, a) for a in (RIGHTS_READ, HOLDS_READ, AUDIT_READ)):
        links.append(("/compliance", "Compliance"))
    if can(who, USERS_READ) or can(who, POLICY_READ) and who.role == "admin":
        links.append(("/admin", "Admin"))
    return links


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    signed: Signed | None = None,
    status_code: int = 200,
    title: str = "",
) -> Response:
    data: dict[str, Any] = {
        "title": title,
        "signed": signed,
        "nav": nav(signed.who) if signed else [],
        "csrf": signed.csrf if signed else "",
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, data, status_code=status_code)
    # The security headers (CSP, nosniff, framing, referrer) are on every response:
    # api/_security.py.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _error_page(request: Request, status: int, message: str) -> Response:
    try:
        signed: Signed | None = signed_in(request)
    except (LoginRequired, CallvaultError):
        signed = None
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 400: "Cannot do that"}
    return render(
        request,
        "error.html",
        {"status": status, "message": message},
        signed=signed,
        status_code=status,
        title=titles.get(status, "Error"),
    )


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


class PageRoute(APIRoute):
    """A route whose callvault errors become HTML pages (the API's handler answers JSON)
    and whose missing session redirects to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            except CallvaultError as exc:
                return _error_page(request, status_of(exc), str(exc))

        return handler
