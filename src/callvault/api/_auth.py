"""Who is asking: a bearer API token or a browser session cookie, checked on the server
for every request; and the access check of one call.

A session cookie is HttpOnly, SameSite=Lax, and Secure as the setting `cookie_secure`
says (by default unless served over plain HTTP by a server listening on loopback;
api/_security.py); unsafe methods (POST, PUT, PATCH, DELETE) with a session must carry the
session's CSRF token in `X-CSRF-Token` (or a form field `csrf_token`). Bearer tokens need
no CSRF token: a browser never sends them by itself.
"""

from __future__ import annotations

from fastapi import Request

from callvault.errors import NotAuthenticated, NotAuthorized
from callvault.services import Context, accounts
from callvault.services.access import Principal

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "check_form_csrf",
    "context_of",
    "header_principal",
    "principal",
]

SESSION_COOKIE = "callvault_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def context_of(request: Request) -> Context:
    """The app's context acting as the request's principal (none before sign-in): the
    first argument of every service an endpoint or a page calls."""
    context: Context = request.app.state.context
    return context.acting_as(getattr(request.state, "principal", None))


async def principal(request: Request) -> Principal:
    """The FastAPI dependency of every endpoint that needs a user."""
    found, pending = _authenticate(request)
    if pending:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        check_form_csrf(request, {CSRF_FIELD: value} if isinstance(value, str) else {})
    return found


def header_principal(request: Request) -> Principal:
    """`principal` decided on the headers alone, for a route that reads its own body (an
    upload): the credentials, and for a session the CSRF token of `X-CSRF-Token` when
    sent. Without that header the token must come as the form field `csrf_token`: the
    route calls `check_form_csrf` before it reads any file (issue 17)."""
    found, pending = _authenticate(request)
    request.state.csrf_pending = pending
    return found


def check_form_csrf(request: Request, fields: dict[str, str]) -> None:
    """NotAuthorized unless the session's CSRF token is among the form `fields` (only
    needed when `header_principal` found no `X-CSRF-Token`)."""
    if not getattr(request.state, "csrf_pending", True):
        return
    session = request.state.session
    csrf = fields.get(CSRF_FIELD)
    if not csrf or not accounts.check_csrf(session, csrf):
        raise NotAuthorized("the CSRF token is missing or wrong; reload the page")
    request.state.csrf_pending = False


def _authenticate(request: Request) -> tuple[Principal, bool]:
    """The principal of the request's credentials, and whether its CSRF token is still to
    be found in the form (a session's unsafe request without `X-CSRF-Token`)."""
    context = context_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            user, token = accounts.resolve_token(context, header[7:].strip())
        except NotAuthorized as exc:
            raise NotAuthenticated(str(exc)) from None
        found = Principal(user.username, user.role, user.team, frozenset(token.scopes))
        request.state.principal = found
        return found, False
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer cvt_...'")
    try:
        user, session = accounts.resolve_session(context, secret)
    except NotAuthorized as exc:
        raise NotAuthenticated(str(exc)) from None
    found = Principal(user.username, user.role, user.team, None)
    request.state.principal = found
    request.state.session = session
    if request.method in _SAFE:
        return found, False
    csrf = request.headers.get(CSRF_HEADER)
    if csrf is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        return found, True
    if not csrf or not accounts.check_csrf(session, csrf):
        raise NotAuthorized("the CSRF token is missing or wrong; reload the page")
    return found, False
