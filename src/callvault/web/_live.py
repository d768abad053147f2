"""The live page (issue 20): calls in progress, each with a rolling transcript per
speaker (final words, and the current partial greyed) and its alerts, which a manager or
a compliance user acknowledges. The page is a shell: `static/live.js` follows the API's
SSE stream (`/api/v1/live/stream`, resumed with Last-Event-ID after a drop) and posts
acknowledgements to the API with the session's CSRF token. Access is the API's: a rep
sees their own calls, a manager their team's, compliance and admin all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from callvault.services.access import LIVE_ACK, LIVE_READ, can, require
from callvault.web._core import PageRoute, render, signed_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/live")
def live_page(request: Request) -> Response:
    signed = signed_in(request)
    require(signed.who, LIVE_READ)
    return render(
        request,
        "live.html",
        {"can_ack": can(signed.who, LIVE_ACK)},
        signed=signed,
        title="Live calls",
    )


__all__ = ["router"]
