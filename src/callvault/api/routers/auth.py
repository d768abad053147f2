"""Signing in and out (browser sessions) and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from callvault.api._auth import SESSION_COOKIE, context_of, principal
from callvault.api._client import client_address
from callvault.api._security import secure_cookies
from callvault.api.schemas import Login, LoginOut, LogoutOut, MeOut
from callvault.errors import AccountLocked, NotAuthenticated, NotAuthorized
from callvault.services import accounts
from callvault.services.access import Principal

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=LoginOut,
    responses={
        401: {"description": "Wrong username or password"},
        403: {"description": "The account is locked; an administrator can unlock it"},
        429: {"description": "Too many failed sign-ins; see Retry-After"},
        503: {"description": "Too many sign-ins being checked at once; see Retry-After"},
    },
)
def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Check the password; set the session cookie and return the CSRF token that unsafe
    requests of this session must send in `X-CSRF-Token`. Failed sign-ins are throttled
    per account and per client address (429 with `Retry-After`)."""
    context = context_of(request)
    try:
        user = accounts.authenticate(
            context, body.username, body.password, address=client_address(request)
        )
    except AccountLocked:
        raise
    except NotAuthorized as exc:
        raise NotAuthenticated(str(exc)) from None
    secret, csrf, expires = accounts.create_session(context, user)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        expires=expires,
        path="/",
    )
    return {"user": user.to_json(), "csrf_token": csrf, "expires_at": expires.isoformat()}


@router.post("/logout", response_model=LogoutOut)
def logout(
    request: Request, response: Response, who: Annotated[Principal, Depends(principal)]
) -> dict[str, bool]:
    """End this browser session (a bearer token stays valid: revoke it instead)."""
    secret = request.cookies.get(SESSION_COOKIE)
    ended = accounts.end_session(context_of(request), secret) if secret else False
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ended": ended}


@router.get("/me", response_model=MeOut)
def me(request: Request, who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """The signed-in user, their role and team, and the token's scopes (null: a session)."""
    user = accounts.get_user(context_of(request), who.username)
    return {
        "user": user.to_json(),
        "scopes": sorted(who.scopes) if who.scopes is not None else None,
    }
