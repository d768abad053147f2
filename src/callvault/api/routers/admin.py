"""Administration: users and API tokens, the recording policy check, and the check of
the webhook settings the app starts with (`services.webhooks`, configured by environment
variables; the deliveries themselves are queued jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from callvault.api._auth import context_of, principal
from callvault.api.schemas import (
    PolicyDecisionOut,
    PolicyQuestion,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserList,
    UserOut,
    UserPatch,
)
from callvault.errors import InputError
from callvault.services import Context, accounts
from callvault.services.access import (
    POLICY_READ,
    USERS_READ,
    USERS_WRITE,
    Principal,
    require,
)
from callvault.services.policy import check_policy
from callvault.services.webhooks import check_settings

Who = Annotated[Principal, Depends(principal)]


@asynccontextmanager
async def webhooks(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (the vault is open): unusable settings
    `webhook_urls` and `webhook_secret` stop the start, not the first delivery."""
    check_settings(app.state.context.config)
    yield


router = APIRouter(tags=["admin"], lifespan=webhooks)


def _context(request: Request, who: Principal) -> Context:
    return context_of(request).acting_as(who)


# -- users and tokens --------------------------------------------------------------------


@router.get("/users", response_model=UserList)
def list_users(request: Request, who: Who) -> dict[str, Any]:
    """Every user, disabled ones too."""
    require(who, USERS_READ)
    return {"users": [u.to_json() for u in accounts.list_users(_context(request, who))]}


@router.post("/users", status_code=201, response_model=UserOut)
def add_user(body: UserIn, request: Request, who: Who) -> dict[str, Any]:
    """Create a user (a manager needs a team)."""
    require(who, USERS_WRITE)
    user = accounts.add_user(
        _context(request, who),
        body.username,
        body.password,
        body.role,
        team=body.team,
        display_name=body.display_name,
    )
    return user.to_json()


@router.patch("/users/{username}", response_model=UserOut)
def update_user(username: str, body: UserPatch, request: Request, who: Who) -> dict[str, Any]:
    """Change a user's role and/or team (a team of null removes it), or disable them
    (which ends their sessions). Re-enabling is not supported: create a new user."""
    require(who, USERS_WRITE)
    context = _context(request, who)
    user = accounts.get_user(context, username)
    if body.disabled is False and user.disabled:
        raise InputError(f"user {user.username} is disabled and stays so; create a new user")
    given = body.model_fields_set
    role = body.role if body.role is not None else user.role
    team = body.team if "team" in given else user.team
    if (role, team) != (user.role, user.team):
        user = accounts.set_role(context, user.username, role, team)
    if body.disabled and not user.disabled:
        user = accounts.disable_user(context, user.username)
    return user.to_json()


@router.post("/users/{username}/unlock", response_model=UserOut)
def unlock_user(username: str, request: Request, who: Who) -> dict[str, Any]:
    """Lift the lock that too many failed sign-ins put on an account, and forget its
    failures (audited `user.unlock`; an account that is not locked is left as it is)."""
    require(who, USERS_WRITE)
    return accounts.unlock_user(_context(request, who), username).to_json()


@router.post("/users/{username}/tokens", status_code=201, response_model=TokenCreatedOut)
def create_token(username: str, body: TokenIn, request: Request, who: Who) -> dict[str, Any]:
    """A new API token for the user; its secret is in this answer only."""
    require(who, USERS_WRITE)
    token, secret = accounts.create_token(
        _context(request, who), username, body.name, body.scopes, body.expires_in_days
    )
    return {"token": token.to_json(), "secret": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, request: Request, who: Who) -> dict[str, Any]:
    """Revoke an API token now (again: no change)."""
    require(who, USERS_WRITE)
    return accounts.revoke_token(_context(request, who), token_id).to_json()


# -- policy ------------------------------------------------------------------------------


@router.post("/policy/check", tags=["policy"], response_model=PolicyDecisionOut)
def policy_check(body: PolicyQuestion, request: Request, who: Who) -> dict[str, Any]:
    """Whether and how a call with these participants may be recorded, and why."""
    require(who, POLICY_READ)
    decision = check_policy(
        context_of(request).config,
        body.participants,
        direction=body.direction,
        team=body.team,
        group=body.group,
        category=body.category,
        at=body.at,
        language=body.language,
        organisation=body.organisation,
    )
    return decision.to_dict()


__all__ = ["router", "webhooks"]
