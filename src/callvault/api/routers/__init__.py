"""The API's routers, one per area; each endpoint checks access, then calls a service.

`ROUTERS` is what `create_app` mounts under `/api/v1`, in this order.
"""

from __future__ import annotations

from fastapi import APIRouter

from callvault.api.routers import (
    admin,
    ask,
    auth,
    browser_live,
    calls,
    contacts,
    governance,
    jobs,
    live,
    outcomes,
    refusals,
    scorecards,
    search,
    team,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    calls.router,
    scorecards.router,
    governance.router,
    refusals.router,
    search.router,
    ask.router,
    team.router,
    contacts.router,
    outcomes.router,
    jobs.router,
    live.router,
    browser_live.router,
    admin.router,
)

__all__ = ["ROUTERS"]
