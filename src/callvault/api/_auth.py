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
from callvault.services.access import CallScope, Principal, call_filter, require
from callvault.vault import Vault

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "accounts_context",
    "call_scope",
    "check_form_csrf",
    "header_principal",
    "principal",
    "reach_agents",
    "require_call",
    "vault_of",
]

SESSION_COOKIE = "callvault_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def vault_of(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def accounts_context(vault: Vault) -> Context:
    """A context of the app's storage for the accounts' use cases (none acting yet:
    `acting_as` names the principal), until the app hands one out per request."""
    return Context(config=vault.config, vault=vault)


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
    vault = vault_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            user, token = accounts.resolve_token(accounts_context(vault), header[7:].strip())
        except NotAuthorized as exc:
            raise NotAuthenticated(str(exc)) from None
        found = Principal(user.username, user.role, user.team, frozenset(token.scopes))
        request.state.principal = found
        return found, False
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer cvt_...'")
    try:
        user, session = accounts.resolve_session(accounts_context(vault), secret)
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


def reach_agents(vault: Vault, who: Principal, only: str | None = None) -> list[str] | None:
    """The agents whose calls `who` may see (a rep: themself; a manager: their team);
    None: every call. `only`: narrowed to that one agent (none when out of reach)."""
    agent, team = call_filter(who)
    if agent is not None:
        agents: list[str] | None = [agent]
    elif team is not None:
        agents = accounts.agents_of_team(accounts_context(vault), team)
    else:
        agents = None
    if only is not None:
        return [only] if agents is None or only in agents else []
    return agents


def call_scope(vault: Vault, call_id: str) -> CallScope:
    """The access facts of a call (not audited: ids only). NotFound when it does not
    exist, with the message a call out of reach gets."""
    agent = vault.calls.call_agent(call_id)
    team = accounts.team_of(accounts_context(vault), agent) if agent else None
    return CallScope(call_id, agent, team)


def require_call(vault: Vault, who: Principal, action: str, call_id: str) -> None:
    """Raise NotFound (out of reach: the call looks absent) or NotAuthorized."""
    require(who, action, call_scope(vault, call_id))
